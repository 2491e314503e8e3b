"""The `av` command (`av_cli.main`) and its output helpers (`av_cli.output`).

Kept empty so that importing `av_cli.output` (every command module does) never builds the app.
"""
