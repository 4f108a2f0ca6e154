"""The command line, and the only place click is imported: each command parses its options,
calls `innovate_news.api`, and prints. The console script is `innovate_news.cli.main:main`.

Public names: main.cli, main.main.
"""

__all__ = [
    "devsite",
    "due",
    "main",
    "maintenance",
    "problems",
    "progress",
    "send",
    "state",
    "store",
    "subscribers",
    "websub",
]
