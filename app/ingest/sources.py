"""Pure conversion of incoming briefs (.txt, .md, .html) into the text newsqa stores and the brief's metadata.

Offsets in answers index into the stored text, so whatever is not article text is taken out here, once:
YAML front matter of a text file becomes metadata, and an HTML page is reduced by trafilatura to its article
(navigation, boilerplate and comments dropped) as Markdown, headings kept, its title, site, date and canonical
URL read from the page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import InvalidDocumentError, validation_message
from app.ingest.blocks import parse_blocks
from app.models import DocumentMeta

TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + MARKDOWN_SUFFIXES + HTML_SUFFIXES
DOC_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,127}$"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
MIN_ARTICLE_WORDS = 8
_HTML_START = re.compile(r"\s*<(?:!doctype\s+html|html|head|body|article|div|p|h[1-6])\b[^>]*>", re.IGNORECASE)
_HTML_CLOSE = re.compile(r"</(?:html|body|article|div|p|h[1-6])\s*>", re.IGNORECASE)


def looks_like_html(text: str) -> bool:
    """A plain-text brief that opens with a page's or a block's tag and closes one: markup pasted as text (not
    "<Body of text>", nor Markdown, which may hold HTML blocks and is never checked)."""
    return _HTML_START.match(text) is not None and _HTML_CLOSE.search(text) is not None


def is_web_address(url: str) -> bool:
    """An absolute http or https URL with a host."""
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


class BriefMetadata(BaseModel):
    """Metadata a user may give for a brief (front matter, a sidecar, CLI options or the HTTP body)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    doc_id: str | None = Field(None, pattern=DOC_ID_PATTERN, description="Lowercase letters, digits, `.`, `_`, `-`.")
    title: str | None = Field(None, max_length=500)
    source: str | None = Field(None, max_length=200)
    published: dt.date | None = None
    url: str | None = Field(None, max_length=2000)

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        """Only an http(s) address: the staff page links to it ("javascript:" would run in the reader's page)."""
        if value is not None and not is_web_address(value):
            raise ValueError("url must be an http:// or https:// address")
        return value

    @field_validator("published", mode="before")
    @classmethod
    def _date_only(cls, value: object) -> object:
        """Accept a full timestamp too (`2026-10-03T08:00:00Z` → 2026-10-03): pages often give one."""
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, str) and len(value) > 10 and value[4:5] == "-" and value[10:11] in ("T", " "):
            return value[:10]
        return value

    def merged(self, other: BriefMetadata) -> BriefMetadata:
        """These values, with `other` filling what is missing."""
        values = {**other.model_dump(exclude_none=True), **self.model_dump(exclude_none=True)}
        return BriefMetadata.model_validate(values)


@dataclass(frozen=True)
class IncomingBrief:
    """A brief ready to store: its id, the text as it will be stored, how to store it, and its metadata."""

    doc_id: str
    text: str
    suffix: str  # ".txt" or ".md": how the stored text is named (the ingest reads Markdown headings)
    meta: DocumentMeta

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def slug(name: str) -> str:
    """A document id from a file stem or a title: lowercase ASCII words joined by `-`."""
    folded = name.lower().encode("ascii", "ignore").decode()
    return _SLUG_JUNK.sub("-", folded).strip("-")[:100] or "brief"


def metadata(values: dict[str, Any], where: str) -> BriefMetadata:
    try:
        return BriefMetadata.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(_metadata_problem(e) for e in exc.errors())
        raise InvalidDocumentError(f"{where}: invalid metadata ({problems})") from None


def _metadata_problem(error: Mapping[str, Any]) -> str:
    """One field's problem; a date says how it is written ("26 November 2026" is not a date here)."""
    field = ".".join(map(str, error["loc"]))
    hint = " (write it YYYY-MM-DD)" if field == "published" and "range" not in str(error["msg"]) else ""
    return f"{field}: {validation_message(error)}{hint}"


def split_front_matter(text: str, where: str) -> tuple[BriefMetadata, str]:
    """(metadata, body) of a text with optional YAML front matter between `---` lines at the very top."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return BriefMetadata.model_validate({}), text
    try:
        values = yaml.safe_load(match.group(1)) or {}
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an unquoted impossible date (2026-02-30)
        problem = " ".join(str(exc).split())  # PyYAML's report spans lines, with a caret under the column
        raise InvalidDocumentError(f"{where}: front matter is not valid YAML ({problem})") from None
    if not isinstance(values, dict):
        raise InvalidDocumentError(f"{where}: front matter must be a mapping of field: value")
    return metadata(values, where), text[match.end() :].lstrip("\r\n")


def html_article(html: str, where: str) -> tuple[BriefMetadata, str]:
    """The article of an HTML page as Markdown, and what the page says about it (title, site, date, URL)."""
    import trafilatura  # here: only ingesting HTML needs it (and its lxml)

    text = trafilatura.extract(
        html, output_format="markdown", include_comments=False, include_tables=True, include_images=False
    )
    if not text or len(text.split()) < MIN_ARTICLE_WORDS:  # trafilatura falls back to menus on empty pages
        raise InvalidDocumentError(
            f"{where}: no article text found in the HTML (a page needs a few paragraphs of article text; send a"
            " short text as plain text instead)"
        )
    found = trafilatura.extract_metadata(html)
    values: dict[str, Any] = {}
    if found is not None:
        values = {"title": found.title, "source": found.sitename or found.hostname, "published": found.date}
        values["url"] = found.url
    try:
        meta = BriefMetadata.model_validate({k: v for k, v in values.items() if v})
    except ValidationError:  # a page's own metadata is best effort: keep what validates
        meta = BriefMetadata.model_validate({k: v for k, v in values.items() if v and k != "published"})
    return meta, text.strip() + "\n"


def decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidDocumentError(f"{where}: not UTF-8 text ({exc})") from None


TEXT_WHITE_SPACE = "\t\n\r\x0b\x0c"  # the control characters a brief may hold: the white space text uses


def _unreadable(character: str) -> bool:
    """A control character other than the white space text uses (TEXT_WHITE_SPACE), or half of a UTF-16 pair
    (a JSON body can carry one escaped)."""
    return unicodedata.category(character) in ("Cc", "Cs") and character not in TEXT_WHITE_SPACE


def make_brief(
    text: str,
    fmt: str,
    given: BriefMetadata,
    fallback_id: str | None,
    where: str,
    now: dt.datetime,
) -> IncomingBrief:
    """A brief from raw content of a format ("text", "markdown" or "html") and the metadata given with it.

    Given metadata wins over what the content says (front matter, the page's own tags). The id is the given
    one, else the file name's slug, else the title's, else a content hash.
    """
    if fmt == "html":
        found, body, suffix = *html_article(text, where), ".md"
    else:
        found, body = split_front_matter(text.replace("\r\n", "\n"), where)
        suffix = ".md" if fmt == "markdown" else ".txt"
        if fmt == "text" and looks_like_html(body):  # pasted markup would be stored and quoted tags and all
            raise InvalidDocumentError(f"{where}: the text looks like HTML; send it as format html (or a .html file)")
    if not body.strip():
        raise InvalidDocumentError(f"{where}: the document has no text")
    unreadable = sorted({f"U+{ord(c):04X}" for c in body if _unreadable(c)})
    if unreadable:  # a NUL or an escape in a brief is a damaged file or a wrong encoding, never news text
        raise InvalidDocumentError(f"{where}: the text contains control characters ({', '.join(unreadable[:5])})")
    meta = given.merged(found)
    first_line_title = parse_blocks(body)[0]
    title_slug = slug(meta.title or first_line_title) if (meta.title or first_line_title) else None
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]
    doc_id = meta.doc_id or (slug(fallback_id) if fallback_id else None) or title_slug or f"brief-{digest}"
    stored = DocumentMeta(
        title=meta.title,
        source=meta.source,
        published=meta.published.isoformat() if meta.published else None,
        url=meta.url,
        ingested_at=now.astimezone(dt.UTC).isoformat(timespec="seconds"),
    )
    return IncomingBrief(doc_id=doc_id, text=body, suffix=suffix, meta=stored)


def format_of(name: str) -> str:
    """"text", "markdown" or "html" from a file name; InvalidDocumentError for anything else."""
    lowered = name.lower()
    for fmt, suffixes in (("text", TEXT_SUFFIXES), ("markdown", MARKDOWN_SUFFIXES), ("html", HTML_SUFFIXES)):
        if lowered.endswith(suffixes):
            return fmt
    raise InvalidDocumentError(f"{name}: unsupported file type (use {', '.join(SUPPORTED_SUFFIXES)})")
