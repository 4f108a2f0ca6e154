"""The static site and its feeds: `build` renders each changed post in worker processes into the
cache, checks the whole, then writes pages, feeds, calendars and issue pages atomically.

Public names: build.build, report.BuildReport, cache.Cache, feeds.frame, calendar.vevent.
"""

__all__ = [
    "artefacts",
    "build",
    "cache",
    "calendar",
    "feeds",
    "issue_pages",
    "report",
    "workers",
    "writer",
]
