"""CSS inlining (css-inline): style rules copied onto elements for clients that strip <style>."""

from __future__ import annotations

import functools

import css_inline

from innovate_news.errors import RenderError


@functools.cache
def _inliner() -> css_inline.CSSInliner:
    # Built once: no network (MJML's font <link> would be fetched otherwise), and the <style>
    # blocks stay, since media queries and dark-mode rules cannot be inlined.
    return css_inline.CSSInliner(
        load_remote_stylesheets=False, keep_style_tags=True, keep_link_tags=True
    )


def inline(html: str) -> str:
    """The same document with every applicable <style> rule also written into style=""."""
    try:
        return str(_inliner().inline(html))
    except ValueError as exc:  # css_inline.InlineError derives from ValueError
        raise RenderError(f"could not inline the email's CSS: {exc}") from exc
