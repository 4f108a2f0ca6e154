"""The static site and its feeds: `build` renders each changed post in worker processes into the
cache, checks the whole, then stages pages, feeds, calendars, issue pages and the one-of-a-kind
pages (privacy, follow, 404, sitemap, robots), and puts them in place only when all are ready.
`serve-site` (devsite, devserver, watch) builds a copy for a server on this machine and builds
it again on every change.

Public names: build.build, report.BuildReport, cache.Cache, cache.clear, keys.code,
staging.Output, feeds.frame, calendar.vevent.
"""

__all__ = [
    "artefacts",
    "bibformats",
    "build",
    "cache",
    "calendar",
    "citation",
    "citations",
    "devserver",
    "devsite",
    "feeds",
    "issue_pages",
    "keys",
    "listing",
    "outputs",
    "pages",
    "postpages",
    "report",
    "scholar",
    "staging",
    "tags",
    "watch",
    "websub",
    "workers",
    "writer",
]
