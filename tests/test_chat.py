"""Pure chat formatting: escaping, intents, quotes cut verbatim at sentence ends, Block Kit and Markdown limits."""

from __future__ import annotations

import re

import pytest

from app.chat.format import (
    MATTERMOST,
    SLACK,
    ChatMessage,
    compose_chat_message,
    compose_chat_notice,
    escape_markdown,
    escape_slack,
    fit_quote,
    mattermost_payload,
    parse_intent,
    plain_text,
    slack_blocks,
)
from app.config import PROJECT_ROOT
from app.ingest.chunk import split_sentences
from app.models import Answer, CitedPassage, Quote
from app.prompts import Prompts
from app.urls import passage_url

SENTENCE = "Officials said the talks would resume on Monday after a pause of {n} days & nights <in Doha>."
LONG_QUOTE = " ".join(SENTENCE.format(n=n) for n in range(120))  # about 11,000 characters


@pytest.fixture(scope="module")
def prompts() -> Prompts:
    return Prompts.load(PROJECT_ROOT / "prompts")


def unquote_block(block: str, escaped: bool = True) -> str:
    """The quoted text back out of a `> ` block (and its Slack escaping undone)."""
    lines = [line[2:] if line.startswith("> ") else line.lstrip(">") for line in block.split("\n")]
    text = "\n".join(lines)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") if escaped else text


def answer_with(quotes: list[str]) -> Answer:
    spans = []
    offset = 0
    for text in quotes:
        spans.append(Quote("brief-1", "Talks & <Terms>", "Section *one*", offset, offset + len(text), text))
        offset += len(text) + 1
    return Answer("q", True, 0.9, None, tuple(spans), ())


def test_slack_escaping_is_exactly_amp_lt_gt() -> None:
    assert escape_slack("a & b <@U1> *bold* _it_") == "a &amp; b &lt;@U1&gt; *bold* _it_"


def test_markdown_escaping_neutralizes_links_and_emphasis() -> None:
    assert escape_markdown("[x](http://e) *b* _i_ `c` a\\b") == r"\[x\](http://e) \*b\* \_i\_ \`c\` a\\b"


@pytest.mark.parametrize(
    ("typed", "question", "share"),
    [
        ("<@U123ABC> What did Pakistan demand?", "What did Pakistan demand?", False),
        ("<@U123ABC|newsqa>   who   mediated? ", "who mediated?", False),
        ("share Who mediated the talks?", "Who mediated the talks?", True),
        ("SHARE   Who mediated?", "Who mediated?", True),
        ("What did &lt;TTP&gt; &amp; Kabul say?", "What did <TTP> & Kabul say?", False),
        ("Is <https://example.com/a|this story> true?", "Is this story true?", False),
        ("What about <#C024BE7LR|general>?", "What about #general?", False),
        ("<!channel> what happened?", "what happened?", False),
        ("sharecropping in Kabul?", "sharecropping in Kabul?", False),
    ],
)
def test_parse_intent_reads_the_question(typed: str, question: str, share: bool) -> None:
    intent = parse_intent(typed)
    assert (intent.question, intent.share) == (question, share)


@pytest.mark.parametrize("typed", ["", "   ", "help", "HELP", "<@U1> help", "<@U1>", "share", "--help", "?"])
def test_parse_intent_help(typed: str) -> None:
    assert parse_intent(typed).wants_help


def test_plain_text_keeps_bare_links() -> None:
    assert plain_text("see <https://example.com/x>") == "see https://example.com/x"


def test_passage_url_quotes_the_document_id() -> None:
    assert passage_url("https://n.example/", "a b/c", 5, 9) == "https://n.example/documents/a%20b%2Fc/view?span=5-9#passage"


def test_a_short_quote_is_shown_whole() -> None:
    assert fit_quote("One. Two & three.", 100, SLACK, "… more") == "> One. Two &amp; three."


@pytest.mark.parametrize("limit", [300, 500, 2900])
def test_a_long_quote_is_cut_verbatim_at_a_sentence_end(limit: int) -> None:
    block = fit_quote(LONG_QUOTE, limit, SLACK, "… <https://x|read the full passage>")
    assert len(block) <= limit
    shown, more = block.rsplit("\n", 1)
    assert more == "… <https://x|read the full passage>"
    text = unquote_block(shown)
    assert LONG_QUOTE.startswith(text)
    assert len(text) in {end for _, end in split_sentences(LONG_QUOTE, 0, len(LONG_QUOTE))}


def test_a_single_overlong_sentence_is_cut_at_a_word() -> None:
    sentence = "word " * 1000 + "end."
    block = fit_quote(sentence, 300, SLACK, "…")
    shown = unquote_block(block.rsplit("\n", 1)[0])
    assert len(block) <= 300
    assert sentence.startswith(shown)
    assert shown.endswith("word")


def test_a_list_quote_keeps_one_block_line_per_item() -> None:
    block = fit_quote("It included:\n- one.\n- two.", 1000, SLACK, "…")
    assert block == "> It included:\n> - one.\n> - two."


def test_answer_message_holds_only_quotes_citations_and_wording(prompts: Prompts) -> None:
    answer = answer_with(["Islamabad wants guarantees & proof.", "Kabul <denied> it."])
    message = compose_chat_message(answer, prompts, SLACK, "https://n.example", documents=2)
    kinds = [part.kind for part in message.parts]
    assert kinds == ["text", "quote", "citation", "quote", "citation"]
    assert message.parts[1].text == "> Islamabad wants guarantees &amp; proof."
    assert message.parts[3].text == "> Kabul &lt;denied&gt; it."
    citation = message.parts[2].text
    assert "Talks &amp; &lt;Terms&gt;" in citation
    assert "<https://n.example/documents/brief-1/view?span=0-35#passage|" in citation
    assert message.fallback == "Islamabad wants guarantees &amp; proof."


def test_many_long_quotes_share_the_budget(prompts: Prompts) -> None:
    answer = answer_with([LONG_QUOTE, LONG_QUOTE, LONG_QUOTE])
    blocks = slack_blocks(compose_chat_message(answer, prompts, SLACK, "https://n.example", documents=1))
    texts = [b["text"]["text"] if b["type"] == "section" else b["elements"][0]["text"] for b in blocks]
    assert len(blocks) <= 50
    assert all(len(t) <= 3000 for t in texts)
    assert sum(map(len, texts)) <= 12_000
    quotes = [t for t in texts if t.startswith("> ")]
    assert len(quotes) == 3
    for quote in quotes:
        shown, more = quote.rsplit("\n", 1)
        assert LONG_QUOTE.startswith(unquote_block(shown))
        assert "read the full passage" in more


def test_abstention_offers_the_closest_passages_as_not_an_answer(prompts: Prompts) -> None:
    passage = CitedPassage("brief-1", "T", "S", 0, 10, "Some text.", 0.3)
    answer = Answer("q", False, 0.1, "The article doesn't say.", (), (passage,))
    message = compose_chat_message(answer, prompts, SLACK, "https://n.example", documents=1)
    assert message.parts[0].text == "The article doesn't say."
    assert "not an answer" in message.parts[1].text.lower()
    assert message.parts[2] == message.parts[2].__class__("quote", "> Some text.")


def test_mattermost_post_is_markdown_without_blocks(prompts: Prompts) -> None:
    answer = answer_with(["A *starred* claim [1]."])
    message = compose_chat_message(answer, prompts, MATTERMOST, "https://n.example", documents=1)
    payload = mattermost_payload(message, "ephemeral")
    assert set(payload) == {"response_type", "text"}
    text = payload["text"]
    assert text.startswith("**")
    assert r"> A \*starred\* claim \[1\]." in text
    assert re.search(r"\[characters 0–22\]\(https://n\.example/documents/brief-1/view\?span=0-22#passage\)", text)
    assert "\n\n" + message.parts[2].text in text  # the citation is not swallowed by the quote above it


@pytest.mark.parametrize("dialect", [SLACK, MATTERMOST])
def test_help_renders_for_both_platforms(prompts: Prompts, dialect: object) -> None:
    message: ChatMessage = compose_chat_notice(
        "chat_help.txt", prompts, dialect, command="/newsqa", documents=1  # type: ignore[arg-type]
    )
    text = message.parts[0].text
    assert "/newsqa share" in text
    assert ("thread" in text) == (dialect is SLACK)  # only Slack gets mentions and DMs
