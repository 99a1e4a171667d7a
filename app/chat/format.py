"""Pure chat formatting: an Answer as a Slack Block Kit message or a Mattermost Markdown post, within limits.

A chat message holds nothing but verbatim quotes (or a verbatim prefix of one, cut at a sentence boundary and
marked "…"), citation metadata, and wording rendered from the templates in prompts/. Platform differences
(escaping, bold, links, size limits) live in a `Dialect`, so the layout is written once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from app.ingest.chunk import split_sentences
from app.models import Answer, CitedPassage, Quote
from app.prompts import Prompts
from app.urls import passage_url

Platform = Literal["slack", "mattermost"]
ResponseType = Literal["ephemeral", "in_channel"]
PartKind = Literal["text", "quote", "citation"]

_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]*)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<![^>]*>")
_HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
_SHARE_WORD = "share"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~\[\]|])")


def escape_slack(text: str) -> str:
    """Slack mrkdwn escaping: exactly `&`, `<` and `>` (anything more shows up as literal entities)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_markdown(text: str) -> str:
    """Backslash-escape the characters Mattermost's Markdown would read as formatting or links."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class Dialect:
    """How one chat platform writes text, and how much of it one message may carry."""

    platform: Platform
    escape: Callable[[str], str]
    bold: Callable[[str], str]
    link: Callable[[str, str], str]
    part_chars: int  # one quote block, "> " prefixes and the "…" link included
    total_chars: int  # the whole message
    max_parts: int


SLACK = Dialect(
    platform="slack",
    escape=escape_slack,
    bold=lambda text: f"*{text}*",
    link=lambda url, label: f"<{url}|{label}>",
    part_chars=2900,  # Block Kit section text is capped at 3000
    total_chars=10_000,  # messages have failed near 13k in total even within per-block limits
    max_parts=45,  # Block Kit allows 50 blocks
)
MATTERMOST = Dialect(
    platform="mattermost",
    escape=escape_markdown,
    bold=lambda text: f"**{text}**",
    link=lambda url, label: f"[{label}]({url})",
    part_chars=4000,
    total_chars=12_000,  # posts are capped at 16383 characters
    max_parts=60,
)
DIALECTS: dict[Platform, Dialect] = {"slack": SLACK, "mattermost": MATTERMOST}


@dataclass(frozen=True)
class ChatIntent:
    """What a chat message asks for: help, or a question (optionally to be shared with the channel)."""

    question: str | None
    share: bool = False

    @property
    def wants_help(self) -> bool:
        return self.question is None


def plain_text(slack_text: str) -> str:
    """A chat message as the user typed it: mentions dropped, links and channels as their labels, entities decoded.

    Slack sends `<@U123>` for mentions, `<https://x|label>` for links and escapes `&`, `<`, `>` as entities.
    """
    text = _MENTION.sub(" ", slack_text)
    text = _CHANNEL.sub(lambda m: "#" + m.group(1), text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _SPECIAL.sub(" ", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def parse_intent(text: str) -> ChatIntent:
    """`help` (or nothing) asks for help; a leading `share` asks to post the answer to the whole channel."""
    cleaned = plain_text(text)
    if cleaned.lower() in _HELP_WORDS or not cleaned:
        return ChatIntent(None)
    first, _, rest = cleaned.partition(" ")
    if first.lower() == _SHARE_WORD:
        return ChatIntent(rest.strip() or None, share=True)
    return ChatIntent(cleaned)


@dataclass(frozen=True)
class ChatPart:
    """One piece of a chat message: wording, a quote block, or a citation line (already in the dialect)."""

    kind: PartKind
    text: str


@dataclass(frozen=True)
class ChatMessage:
    """A formatted reply: its parts in order, and a short plain fallback for notifications."""

    parts: tuple[ChatPart, ...]
    fallback: str


def _quote_block(text: str, dialect: Dialect) -> str:
    return "\n".join("> " + dialect.escape(line) if line.strip() else ">" for line in text.split("\n"))


def _cut_points(text: str) -> list[int]:
    """Offsets where a quote may be cut: sentence ends and line ends, in increasing order."""
    points = {end for _, end in split_sentences(text, 0, len(text))}
    points.update(m.start() for m in re.finditer(r"\n", text))
    return sorted(p for p in points if 0 < p < len(text))


def fit_quote(text: str, limit: int, dialect: Dialect, more: str) -> str:
    """The quote as a block of at most `limit` characters.

    When the whole quote does not fit, the block shows its longest verbatim prefix that ends at a sentence
    (or, failing that, a word) boundary, followed by `more` (the "…" and the link to the full passage).
    """
    whole = _quote_block(text, dialect)
    if len(whole) <= limit:
        return whole
    room = limit - len(more) - 1

    def fits(cut: int) -> bool:
        return len(_quote_block(text[:cut].rstrip(), dialect)) <= room

    sentence_cuts = [c for c in _cut_points(text) if fits(c)]
    if sentence_cuts:
        cut = sentence_cuts[-1]
    else:  # a single sentence longer than the room: the last word boundary that fits
        words = [m.start() for m in re.finditer(r"\s", text)]
        fitting = [c for c in words if c > 0 and fits(c)]
        cut = fitting[-1] if fitting else 0
    shown = _quote_block(text[:cut].rstrip(), dialect) if cut else ">"
    return f"{shown}\n{more}"


def _cited(answer: Answer) -> list[Quote | CitedPassage]:
    """What the message shows: the quotes of an answer, or the closest passages of an abstention."""
    return list(answer.quotes) if answer.answered else list(answer.passages)


def compose_chat_message(
    answer: Answer, prompts: Prompts, dialect: Dialect, public_url: str, documents: int
) -> ChatMessage:
    """The reply to a question: quotes with citations, or the abstention with the closest passages.

    The budget is shared: each quote gets at most `dialect.part_chars`, and all of them together stay under
    `dialect.total_chars`, so a long list quote is cut (verbatim, at a sentence) rather than the message refused.
    """
    tools: dict[str, Any] = {"bold": dialect.bold, "link": dialect.link, "platform": dialect.platform}
    disagree = answer.answered and len(answer.versions) > 1
    if answer.answered:
        head = [ChatPart("text", prompts.render("chat_answered.txt", quotes=len(answer.quotes), **tools))]
        if answer.message:  # the briefs disagree, or several sources agree
            head.append(ChatPart("text", dialect.escape(answer.message)))
    else:
        message = dialect.escape(answer.message or prompts.render("abstention.txt", documents=documents))
        head = [ChatPart("text", prompts.render("chat_abstention.txt", message=message, **tools))]
        if answer.passages:
            head.append(ChatPart("text", prompts.render("chat_closest.txt", passages=len(answer.passages), **tools)))
    # a version heading before each of the first quotes (one per version) when the briefs disagree
    items = _cited(answer)[: max(0, (dialect.max_parts - len(head)) // (3 if disagree else 2))]
    citations = []
    for item in items:
        url = passage_url(public_url, item.doc_id, item.start, item.end)
        citation = prompts.render(
            "chat_citation.txt",
            title=dialect.escape(item.title),
            section=dialect.escape(item.section),
            source=dialect.escape(item.source or ""),
            published=item.published or "",
            url=url,
            doc_id=item.doc_id,
            start=item.start,
            end=item.end,
            **tools,
        )
        citations.append((url, citation))
    headings = [
        prompts.render("chat_version.txt", number=n, value=dialect.escape(v.value), sources=v.sources, **tools)
        for n, v in enumerate(answer.versions[: len(items)] if disagree else (), 1)
    ]
    fixed = sum(len(p.text) for p in head) + sum(len(c) for _, c in citations) + sum(len(h) for h in headings)
    share = max(200, (dialect.total_chars - fixed) // max(1, len(items)))
    parts = list(head)
    for number, (item, (url, citation)) in enumerate(zip(items, citations, strict=True)):
        if number < len(headings):
            parts.append(ChatPart("text", headings[number]))
        more = prompts.render("chat_truncated.txt", url=url, **tools)
        parts.append(ChatPart("quote", fit_quote(item.text, min(dialect.part_chars, share), dialect, more)))
        parts.append(ChatPart("citation", citation))
    fallback_source = items[0].text if answer.answered and items else (answer.message or "")
    return ChatMessage(tuple(parts), _fallback(fallback_source, dialect))


def compose_chat_notice(template: str, prompts: Prompts, dialect: Dialect, **values: object) -> ChatMessage:
    """A reply made only of wording (help, not ready, an invalid question)."""
    text = prompts.render(template, bold=dialect.bold, link=dialect.link, platform=dialect.platform, **values)
    return ChatMessage((ChatPart("text", text),), _fallback(text, dialect, escape=False))


def _fallback(text: str, dialect: Dialect, escape: bool = True, limit: int = 300) -> str:
    """The notification text: the start of the first quote (or the wording), on one line."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rsplit(" ", 1)[0] + "…"
    return dialect.escape(flat) if escape else flat


def slack_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    """Block Kit JSON: wording and quotes as mrkdwn sections, citations as context lines.

    slack_sdk's block models check Block Kit's own limits (3000 characters per section, ...) as they serialize,
    so a formatting bug fails loudly here instead of as `invalid_blocks` from Slack.
    """
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        text = MarkdownTextObject(text=part.text)
        block = ContextBlock(elements=[text]) if part.kind == "citation" else SectionBlock(text=text)
        blocks.append(block.to_dict())
    return blocks


def mattermost_text(message: ChatMessage) -> str:
    """One Markdown post: the parts separated by blank lines (a line right after a `> ` quote would join it)."""
    return "\n\n".join(part.text for part in message.parts)


def slack_payload(message: ChatMessage, response_type: ResponseType | None = None) -> dict[str, Any]:
    """The JSON of a Slack reply (slash-command response or chat.postMessage arguments)."""
    payload: dict[str, Any] = {"text": message.fallback, "blocks": slack_blocks(message)}
    if response_type:
        payload["response_type"] = response_type
    return payload


def mattermost_payload(message: ChatMessage, response_type: ResponseType) -> dict[str, Any]:
    return {"response_type": response_type, "text": mattermost_text(message)}
