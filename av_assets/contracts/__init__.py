"""The conventions of ../shared/CONTRACTS.md as small helpers every workflow shares.

Light imports only: the fleet generator, the CLI and every run worker import this package.
"""
