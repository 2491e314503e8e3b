"""`python -m av_cli`: the same as the `av` command."""

from av_cli.main import main

main()
