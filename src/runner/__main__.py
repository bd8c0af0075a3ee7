"""`python -m runner` is the same as the `mempg` command."""

from runner.cli import main

main()
