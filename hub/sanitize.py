"""The one place HTML from outside is cleaned before anyone shows it (nh3, an allow-list).

E-mail bodies arrive as arbitrary HTML. :func:`safe_email_html` keeps text formatting,
lists, tables and links; it drops scripts, styles, event handlers, forms, frames and images
(remote images are tracking pixels; attachments are listed separately). The console shows
the result inside a sandboxed iframe as a second wall.
"""

from __future__ import annotations

import nh3

_TAGS = frozenset(nh3.ALLOWED_TAGS) - {"img", "map", "area"}
_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start", "type"},
    "blockquote": {"cite"},
}


def safe_email_html(html: str | None) -> str:
    """``html`` reduced to harmless markup; links open elsewhere and carry no referrer."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=set(_TAGS),
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
