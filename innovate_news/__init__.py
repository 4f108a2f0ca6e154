"""innovate-news: markdown posts to feeds, an archive and newsletter emails, sent exactly once."""

__version__ = "0.1.0"

__all__ = ["__version__"]
