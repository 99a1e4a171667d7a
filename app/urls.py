"""Where a quote lives: the staff page's view of a brief with the quoted span highlighted and scrolled to.

One function for every edge that links to a passage (the page's citations and back links, the chat bots'
"view" links), so the route and its query string are spelled once.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlencode


def search_query(form: Mapping[str, str] | None) -> str:
    """The non-empty fields of a search as a query string ("" when there are none)."""
    return urlencode({k: v for k, v in (form or {}).items() if v})


def passage_path(doc_id: str, start: int, end: int, search: Mapping[str, str] | None = None) -> str:
    """`/documents/<id>/view?span=<start>-<end>` (plus the non-empty fields of `search`, which the view's back
    link returns to), with the fragment naming the highlight."""
    kept = search_query(search)
    return f"/documents/{quote(doc_id, safe='')}/view?span={start}-{end}{'&' + kept if kept else ''}#passage"


def passage_url(public_url: str, doc_id: str, start: int, end: int) -> str:
    """The same view as an absolute link, for messages read outside the page (Slack, Mattermost)."""
    return public_url.rstrip("/") + passage_path(doc_id, start, end)
