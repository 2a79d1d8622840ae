"""`python -m translator` runs the command line."""

from translator.cli import main

main()
