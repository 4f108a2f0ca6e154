"""Newsletter issues as email: MJML compiled once per topic selection, CSS inlined, MIME made once
and filled per recipient; the plain-text part, previews and pre-send checks.

Public names: newsletter.prepare, newsletter.Newsletter, newsletter.Variant, newsletter.Recipient,
preview.write_preview, checks.check_issues.
"""

__all__ = [
    "checks",
    "context",
    "envelope",
    "images",
    "inline",
    "mime",
    "newsletter",
    "preview",
    "render",
    "text",
]
