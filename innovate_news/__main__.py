"""`python -m innovate_news` runs the command line."""

from innovate_news.cli.main import main

main()
