"""`python -m zkinfer` runs the CLI."""

from zkinfer.cli import main

main()
