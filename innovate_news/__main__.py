"""`python -m innovate_news` runs the command line."""

from .cli import main

main()
