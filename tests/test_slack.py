"""The chat edge over real HTTP: Slack slash commands and events, Mattermost commands, a fake Slack Web API.

Every request is signed here exactly as Slack signs it (v0 HMAC-SHA256 over the exact bytes sent) and goes to a
real uvicorn; replies to events are observed at a fake Slack Web API, itself a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from app.chat.format import SLACK, compose_chat_message, slack_payload
from app.config import Settings
from app.ingest.chunk import split_sentences
from app.models import Answer, Quote
from app.service import QAService
from app.urls import passage_url
from tests.fake_slack import FakeSlack, PostedMessage
from tests.support import (
    ANSWERED,
    BOT_TOKEN,
    DOC_ID,
    MM_TOKEN,
    NOT_IN_ARTICLE,
    PUBLIC_URL,
    SECRET,
    GatedLoader,
    assert_error,
    chat_settings,
    is_ready,
    poll_readyz,
    serving,
    sign,
)

RESPONSE_URL = "https://hooks.slack.com/commands/XXX"
BOT_USER = "UBOT"
AUTHORIZATIONS = [{"user_id": BOT_USER, "is_bot": True}]
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
LINK = re.compile(r"<(https://newsqa\.example/documents/([^/|>]+))/view\?span=(\d+)-(\d+)#passage\|([^>]*)>")
MARKDOWN_LINK = re.compile(
    r"\[characters (\d+)–(\d+)\]\((https://newsqa\.example/documents/([^/)]+))/view\?span=(\d+)-(\d+)#passage\)"
)
SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*$")
_unique = itertools.count(1)


# --- helpers --------------------------------------------------------------------------------------------------------


def command_body(text: str, **extra: str) -> bytes:
    fields = {
        "token": "deprecated",
        "team_id": "T1",
        "channel_id": "C1",
        "user_id": "U1",
        "command": "/newsqa",
        "text": text,
        "response_url": RESPONSE_URL,
        "trigger_id": f"1.{next(TRIGGERS)}.3",  # unique per command, as Slack's are
        **extra,
    }
    return urlencode(fields).encode()


TRIGGERS = itertools.count(1)


def event_body(event: dict[str, Any], event_id: str | None = None) -> bytes:
    envelope = {
        "token": "x",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_unique):06d}",
        "event_time": 1_700_000_000,
        "event": event,
        "authorizations": AUTHORIZATIONS,
    }
    return json.dumps(envelope).encode()


def mention(channel: str, ts: str, text: str = f"<@{BOT_USER}> {ANSWERED}", **extra: str) -> dict[str, Any]:
    return {"type": "app_mention", "user": "U1", "text": text, "channel": channel, "ts": ts, **extra}


def fresh_ts() -> str:
    return f"1700000000.{next(_unique):06d}"


def post_command(http: httpx.Client, text: str, **extra: str) -> httpx.Response:
    body = command_body(text, **extra)
    return http.post("/slack/commands", content=body, headers={**FORM, **sign(body)})


def post_event(http: httpx.Client, body: bytes, retry: int | None = None) -> httpx.Response:
    headers = {**JSON, **sign(body)}
    if retry is not None:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return http.post("/slack/events", content=body, headers=headers)


def unslack(text: str) -> str:
    """A Slack mrkdwn quote block back to the text it quotes: "> " prefixes dropped, entities decoded."""
    lines = [line[2:] if line.startswith("> ") else line.removeprefix(">") for line in text.split("\n")]
    return "\n".join(lines).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def block_texts(blocks: list[dict[str, Any]]) -> list[str]:
    texts: list[str] = []
    for block in blocks:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(element["text"] for element in block["elements"])
    return texts


def assert_within_block_kit_limits(blocks: list[dict[str, Any]]) -> None:
    assert 0 < len(blocks) <= 50
    for block in blocks:
        assert block["type"] in {"section", "context"}, block
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn"
            assert 0 < len(block["text"]["text"]) <= 3000
        else:
            assert 0 < len(block["elements"]) <= 10
    assert sum(len(text) for text in block_texts(blocks)) <= 12_000


def quotes_with_links(blocks: list[dict[str, Any]]) -> list[tuple[str, re.Match[str]]]:
    """(the quote's text, the citation link under it) for every quote section followed by a context line."""
    pairs: list[tuple[str, re.Match[str]]] = []
    for above, block in itertools.pairwise(blocks):
        if block["type"] != "context":
            continue
        assert above["type"] == "section" and above["text"]["text"].startswith("> "), above
        [element] = block["elements"]
        link = LINK.search(element["text"])
        assert link, element["text"]
        pairs.append((above["text"]["text"], link))
    return pairs


def assert_quotes_are_verbatim(blocks: list[dict[str, Any]], article_text: str) -> int:
    pairs = quotes_with_links(blocks)
    for quote, link in pairs:
        assert link.group(2) == DOC_ID
        start, end = int(link.group(3)), int(link.group(4))
        assert 0 <= start < end <= len(article_text)
        assert link.group(5) == f"characters {start}–{end}"
        assert article_text[start:end] in unslack(quote), (quote, article_text[start:end])
    return len(pairs)


# --- fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def shared_http(settings: Settings, service: QAService, shared_slack: FakeSlack) -> Iterator[httpx.Client]:
    """One server for tests that need no fresh state (every event they send has its own id and ts)."""
    with serving(chat_settings(settings, shared_slack.url), service) as http:
        yield http


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture
def http(settings: Settings, service: QAService, fake_slack: FakeSlack) -> Iterator[httpx.Client]:
    """A fresh server (fresh de-duplication memory) whose replies go to this test's own fake Slack."""
    with serving(chat_settings(settings, fake_slack.url), service) as client:
        yield client


def barrier(http: httpx.Client, fake: FakeSlack) -> None:
    """Send a good mention and wait for its reply: anything a request before it scheduled has run by then."""
    ts = fresh_ts()
    assert post_event(http, event_body(mention("CBARRIER", ts))).json()["status"] == "accepted"
    assert fake.wait_for_posts(1, lambda c: c.body.get("thread_ts") == ts), "the barrier mention was not answered"


# --- 1. signatures --------------------------------------------------------------------------------------------------

Tamper = Callable[[bytes], tuple[bytes, dict[str, str]]]


def _stale(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sign(body, str(int(time.time()) - 301))


def _future(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sign(body, str(math.ceil(time.time()) + 301))  # rounded up: never within 300 s of the server's now


BAD_SIGNATURES: list[Any] = [
    pytest.param(lambda body: (body, sign(body, secret="not-the-secret")), id="wrong-secret"),
    pytest.param(lambda body: (body, {**sign(body), "X-Slack-Signature": "v0=" + "0" * 64}), id="wrong-signature"),
    pytest.param(lambda body: (body, {**sign(body), "X-Slack-Signature": "garbage"}), id="malformed-signature"),
    pytest.param(_stale, id="stale-timestamp"),
    pytest.param(_future, id="future-timestamp"),
    pytest.param(lambda body: (body, sign(body, "abc")), id="non-numeric-timestamp"),
    pytest.param(lambda body: (body, {}), id="no-headers"),
    pytest.param(lambda body: (body, {"X-Slack-Signature": sign(body)["X-Slack-Signature"]}), id="no-timestamp"),
    pytest.param(
        lambda body: (body, {"X-Slack-Request-Timestamp": sign(body)["X-Slack-Request-Timestamp"]}),
        id="no-signature",
    ),
    pytest.param(lambda body: (body.replace(b"Pakistan", b"Pakistam"), sign(body)), id="body-modified"),
    pytest.param(lambda body: (body + b" ", sign(body)), id="byte-appended"),
]


@pytest.mark.e2e
@pytest.mark.parametrize("tamper", BAD_SIGNATURES)
def test_badly_signed_slash_command_is_401(shared_http: httpx.Client, tamper: Tamper) -> None:
    body, signature = tamper(command_body(ANSWERED))
    response = shared_http.post("/slack/commands", content=body, headers={**FORM, **signature})
    body_json = assert_error(response, 401, "unauthorized")
    assert "blocks" not in body_json
    assert SECRET not in response.text


@pytest.mark.e2e
@pytest.mark.parametrize("tamper", BAD_SIGNATURES)
def test_badly_signed_event_is_401_and_never_answered(
    shared_http: httpx.Client, shared_slack: FakeSlack, tamper: Tamper
) -> None:
    ts = fresh_ts()
    body, signature = tamper(event_body(mention("CSIGNED", ts)))
    response = shared_http.post("/slack/events", content=body, headers={**JSON, **signature})
    assert_error(response, 401, "unauthorized")
    barrier(shared_http, shared_slack)
    assert shared_slack.posts(lambda c: c.body.get("thread_ts") == ts) == []


@pytest.mark.e2e
def test_well_signed_requests_are_accepted_on_both_routes(shared_http: httpx.Client, shared_slack: FakeSlack) -> None:
    command = post_command(shared_http, ANSWERED)
    assert command.status_code == 200, command.text
    assert command.json()["blocks"]

    ts = fresh_ts()
    event = post_event(shared_http, event_body(mention("CSIGNED", ts)))
    assert event.status_code == 200, event.text
    assert event.json() == {"ok": True, "status": "accepted"}
    assert len(shared_slack.wait_for_posts(1, lambda c: c.body.get("thread_ts") == ts)) == 1


@pytest.mark.e2e
def test_signature_within_the_replay_window_is_accepted(shared_http: httpx.Client) -> None:
    body = command_body(ANSWERED)
    response = shared_http.post(
        "/slack/commands", content=body, headers={**FORM, **sign(body, str(int(time.time()) - 240))}
    )
    assert response.status_code == 200, response.text


# --- 2. disabled routes ---------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_chat_routes_are_off_without_a_secret_or_token(settings: Settings, service: QAService) -> None:
    plain = settings.model_copy(
        update={"slack_signing_secret": None, "slack_bot_token": None, "mattermost_token": None}
    )
    with serving(plain, service) as http:
        command = command_body(ANSWERED)
        body = assert_error(
            http.post("/slack/commands", content=command, headers={**FORM, **sign(command)}), 404, "chat_disabled"
        )
        assert "NEWSQA_SLACK_SIGNING_SECRET" in body["message"]
        event = event_body(mention("C1", fresh_ts()))
        assert_error(http.post("/slack/events", content=event, headers={**JSON, **sign(event)}), 404, "chat_disabled")
        assert_error(
            http.post("/slack/commands", content=command, headers={**FORM, "Authorization": f"Token {MM_TOKEN}"}),
            404,
            "chat_disabled",
        )
        assert http.post("/ask", json={"question": ANSWERED}).status_code == 200  # the rest of the API is unaffected


@pytest.mark.e2e
def test_events_are_off_without_a_bot_token(settings: Settings, service: QAService, fake_slack: FakeSlack) -> None:
    no_bot = chat_settings(settings, fake_slack.url, slack_bot_token=None)
    with serving(no_bot, service) as http:
        event = event_body(mention("C1", fresh_ts()))
        body = assert_error(
            http.post("/slack/events", content=event, headers={**JSON, **sign(event)}), 404, "chat_disabled"
        )
        assert "NEWSQA_SLACK_BOT_TOKEN" in body["message"]
        assert post_command(http, ANSWERED).status_code == 200  # slash commands need no bot token
    assert fake_slack.posts() == []


# --- 3. url_verification --------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_url_verification_echoes_the_challenge(shared_http: httpx.Client) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    response = shared_http.post("/slack/events", content=body, headers={**JSON, **sign(body)})
    assert response.status_code == 200, response.text
    assert response.json() == {"challenge": "abc123"}


@pytest.mark.e2e
def test_unsigned_url_verification_is_refused(shared_http: httpx.Client) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    response = shared_http.post("/slack/events", content=body, headers=JSON)
    assert_error(response, 401, "unauthorized")
    assert "abc123" not in response.text


# --- 4. slash command replies ---------------------------------------------------------------------------------------


@pytest.mark.e2e
def answered_count(http: httpx.Client) -> float:
    found = re.search(r'^newsqa_answers_total\{result="answered"\} ([0-9.]+)$', http.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def test_slash_command_answers_with_verbatim_quotes_in_block_kit(shared_http: httpx.Client, article_text: str) -> None:
    counted = answered_count(shared_http)
    response = post_command(shared_http, ANSWERED)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    reply = response.json()
    assert set(reply) == {"response_type", "text", "blocks"}
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].strip()
    blocks = reply["blocks"]
    assert_within_block_kit_limits(blocks)
    assert blocks[0]["type"] == "section"
    assert not blocks[0]["text"]["text"].startswith(">")
    assert assert_quotes_are_verbatim(blocks, article_text) >= 1
    assert "hooks.slack.com" not in response.text
    assert answered_count(shared_http) == counted + 1  # a chat answer counts as /ask's do


@pytest.mark.e2e
def test_share_posts_the_answer_in_channel(shared_http: httpx.Client, article_text: str) -> None:
    reply = post_command(shared_http, f"share {ANSWERED}").json()
    assert reply["response_type"] == "in_channel"
    assert assert_quotes_are_verbatim(reply["blocks"], article_text) >= 1
    private = post_command(shared_http, ANSWERED).json()
    assert private["response_type"] == "ephemeral"
    assert private["blocks"] == reply["blocks"]  # "share" changes who sees it, not what it says


@pytest.mark.e2e
@pytest.mark.parametrize("text", ["", "help", "  HELP  ", "share"])
def test_empty_command_or_help_gives_usage(shared_http: httpx.Client, text: str) -> None:
    response = post_command(shared_http, text)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["response_type"] == "ephemeral"
    words = "\n".join(block_texts(reply["blocks"]))
    assert "/newsqa" in words
    assert "/newsqa" in reply["text"]
    assert not quotes_with_links(reply["blocks"])


@pytest.mark.e2e
def test_out_of_scope_question_abstains_and_shows_closest_passages(
    shared_http: httpx.Client, article_text: str
) -> None:
    response = post_command(shared_http, NOT_IN_ARTICLE)
    assert response.status_code == 200, response.text
    reply = response.json()
    blocks = reply["blocks"]
    assert_within_block_kit_limits(blocks)
    wording = [block["text"]["text"] for block in blocks if block["type"] == "section"]
    assert "doesn't say" in wording[0]
    assert any("Closest passages, not an answer" in text for text in wording[:2])
    assert "doesn't say" in reply["text"]
    assert assert_quotes_are_verbatim(blocks, article_text) >= 1


@pytest.mark.e2e
def test_over_long_question_is_explained_not_an_error(shared_http: httpx.Client) -> None:
    response = post_command(shared_http, "why " * 150)  # 600 characters
    assert response.status_code == 200, response.text
    reply = response.json()
    text = "\n".join(block_texts(reply["blocks"]))
    assert "I can't ask that" in text
    assert "500" in text
    assert not quotes_with_links(reply["blocks"])


@pytest.mark.e2e
def test_ssl_check_is_answered_without_a_command(shared_http: httpx.Client) -> None:
    body = urlencode({"ssl_check": "1", "token": "x"}).encode()
    response = shared_http.post("/slack/commands", content=body, headers={**FORM, **sign(body)})
    assert response.status_code == 200, response.text
    assert response.json()["text"] == ""


@pytest.mark.e2e
def test_command_body_that_is_not_utf8_is_a_json_4xx(shared_http: httpx.Client) -> None:
    body = b"command=%2Fnewsqa&text=\xff\xfe"
    mattermost = shared_http.post(
        "/slack/commands", content=body, headers={**FORM, "Authorization": f"Token {MM_TOKEN}"}
    )
    assert_error(mattermost, 400, "bad_request")
    # slack_sdk decodes the body as UTF-8 before hashing it, so even a correct signature cannot vouch for it
    assert_error(shared_http.post("/slack/commands", content=body, headers={**FORM, **sign(body)}), 401, "unauthorized")


@pytest.mark.e2e
def test_command_with_too_many_form_fields_is_a_400(shared_http: httpx.Client) -> None:
    body = command_body(ANSWERED) + b"".join(b"&f%d=x" % i for i in range(64))
    assert_error(shared_http.post("/slack/commands", content=body, headers={**FORM, **sign(body)}), 400, "bad_request")


# --- 5. a long quote is cut verbatim within Block Kit's limits ------------------------------------------------------


def test_long_quote_is_cut_at_a_sentence_as_a_verbatim_prefix(service: QAService, article_text: str) -> None:
    sentences = list(split_sentences(article_text, 0, len(article_text)))
    end = max(e for _, e in sentences if e <= 9000)
    start = sentences[0][0]
    text = article_text[start:end]
    assert len(text) > 8000
    quote = Quote(DOC_ID, "Pakistan–Afghanistan talks", "Talks", start, end, text)
    answer = Answer("What happened?", True, 0.9, None, (quote,), ())

    message = compose_chat_message(answer, service.prompts, SLACK, PUBLIC_URL, 1)
    blocks = slack_payload(message)["blocks"]

    assert_within_block_kit_limits(blocks)
    quote_sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and b["text"]["text"].startswith(">")]
    [shown] = quote_sections
    url = passage_url(PUBLIC_URL, DOC_ID, start, end)
    *quoted_lines, more = shown.split("\n")
    assert more == f"… <{url}|read the full passage>"
    shown_text = unslack("\n".join(quoted_lines))
    assert shown_text.strip()
    assert len(shown_text) < len(text)
    assert text.startswith(shown_text)
    assert SENTENCE_END.search(shown_text), shown_text[-80:]


# --- 6. events: answered once, in the right thread ------------------------------------------------------------------


def _in_thread(channel: str, thread_ts: str) -> Callable[[PostedMessage], bool]:
    return lambda c: c.body.get("channel") == channel and c.body.get("thread_ts") == thread_ts


def assert_answer_posted(post: PostedMessage, article_text: str) -> None:
    assert post.authorization == f"Bearer {BOT_TOKEN}"
    assert post.body["text"].strip()
    blocks = post.body["blocks"]
    assert_within_block_kit_limits(blocks)
    assert assert_quotes_are_verbatim(blocks, article_text) >= 1


@pytest.mark.e2e
def test_mention_is_answered_once_in_its_thread_despite_retries(
    http: httpx.Client, fake_slack: FakeSlack, article_text: str
) -> None:
    body = event_body(mention("C1", "1700000000.000100", text=f"<@{BOT_USER}> what did Pakistan demand?"), "Ev1")
    first = post_event(http, body)
    assert first.status_code == 200, first.text
    assert first.json() == {"ok": True, "status": "accepted"}
    for retry in (1, 2):
        again = post_event(http, body, retry=retry)  # re-signed with a fresh timestamp
        assert again.status_code == 200, again.text
        assert again.json() == {"ok": True, "status": "duplicate"}

    assert fake_slack.wait_for_posts(1)
    time.sleep(0.5)  # room for a wrongly scheduled second reply to arrive
    [post] = fake_slack.posts()
    assert post.body["channel"] == "C1"
    assert post.body["thread_ts"] == "1700000000.000100"
    assert_answer_posted(post, article_text)
    assert "hooks.slack.com" not in json.dumps(post.body)


@pytest.mark.e2e
def test_mention_inside_a_thread_is_answered_in_that_thread(
    shared_http: httpx.Client, shared_slack: FakeSlack, article_text: str
) -> None:
    parent, ts = "1700000000.000050", "1700000000.000200"
    body = event_body(mention("CTHREAD", ts, thread_ts=parent), "EvThread")
    assert post_event(shared_http, body).json() == {"ok": True, "status": "accepted"}
    [post] = shared_slack.wait_for_posts(1, lambda c: c.body.get("channel") == "CTHREAD")
    assert post.body["thread_ts"] == parent
    assert_answer_posted(post, article_text)


@pytest.mark.e2e
def test_direct_message_is_answered_in_its_thread(
    shared_http: httpx.Client, shared_slack: FakeSlack, article_text: str
) -> None:
    ts = fresh_ts()
    event = {"type": "message", "channel_type": "im", "user": "U1", "text": ANSWERED, "channel": "D1", "ts": ts}
    assert post_event(shared_http, event_body(event)).json() == {"ok": True, "status": "accepted"}
    [post] = shared_slack.wait_for_posts(1, _in_thread("D1", ts))
    assert_answer_posted(post, article_text)


@pytest.mark.e2e
def test_mention_without_a_question_gets_help_in_the_thread(shared_http: httpx.Client, shared_slack: FakeSlack) -> None:
    ts = fresh_ts()
    assert post_event(shared_http, event_body(mention("CHELP", ts, text=f"<@{BOT_USER}>"))).json()["status"] == (
        "accepted"
    )
    [post] = shared_slack.wait_for_posts(1, _in_thread("CHELP", ts))
    assert "/newsqa" in "\n".join(block_texts(post.body["blocks"]))


# --- 7. events that are not questions for the bot -------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"type": "message", "channel_type": "im", "user": BOT_USER, "text": ANSWERED}, id="own-message"),
        pytest.param({"type": "app_mention", "user": BOT_USER, "text": f"<@{BOT_USER}> {ANSWERED}"}, id="own-mention"),
        pytest.param(
            {"type": "message", "channel_type": "im", "user": "U2", "bot_id": "B9", "text": ANSWERED}, id="bot-id"
        ),
        pytest.param({"type": "app_mention", "bot_id": "B9", "text": f"<@{BOT_USER}> {ANSWERED}"}, id="bot-mention"),
        pytest.param(
            {"type": "message", "channel_type": "im", "subtype": "message_changed", "user": "U1", "text": ANSWERED},
            id="edited",
        ),
        pytest.param({"type": "message", "channel_type": "channel", "user": "U1", "text": ANSWERED}, id="channel"),
        pytest.param({"type": "reaction_added", "user": "U1", "reaction": "thumbsup"}, id="other-event"),
    ],
)
def test_events_that_are_not_questions_are_ignored(
    shared_http: httpx.Client, shared_slack: FakeSlack, event: dict[str, Any]
) -> None:
    ts = fresh_ts()
    response = post_event(shared_http, event_body({**event, "channel": "CIGNORED", "ts": ts}))
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "status": "ignored"}
    barrier(shared_http, shared_slack)
    assert shared_slack.posts(lambda c: c.body.get("channel") == "CIGNORED") == []


@pytest.mark.e2e
def test_callback_of_another_envelope_type_is_ignored(shared_http: httpx.Client) -> None:
    body = json.dumps({"type": "app_rate_limited", "minute_rate_limited": 1}).encode()
    response = post_event(shared_http, body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored"


@pytest.mark.e2e
@pytest.mark.parametrize("body", [b"{not json", b'{"event": {}}', b"[1, 2]"])
def test_signed_event_that_is_not_an_envelope_is_a_400(shared_http: httpx.Client, body: bytes) -> None:
    assert_error(post_event(shared_http, body), 400, "bad_request")


# --- 8. one message, two event ids ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_same_message_under_two_event_ids_is_answered_once(http: httpx.Client, fake_slack: FakeSlack) -> None:
    ts = "1700000000.000300"
    as_mention = event_body(mention("D2", ts, channel_type="im"), "EvMention")
    as_message = event_body(
        {
            "type": "message",
            "channel_type": "im",
            "user": "U1",
            "text": f"<@{BOT_USER}> {ANSWERED}",
            "channel": "D2",
            "ts": ts,
        },
        "EvMessage",
    )
    assert post_event(http, as_mention).json()["status"] == "accepted"
    assert post_event(http, as_message).json()["status"] == "duplicate"
    assert fake_slack.wait_for_posts(1)
    time.sleep(0.5)
    [post] = fake_slack.posts()
    assert post.body["channel"] == "D2"
    assert post.body["thread_ts"] == ts


# --- 9. Slack refusing the reply ------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_failed_post_message_is_logged_and_the_server_keeps_serving(
    http: httpx.Client, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="newsqa.slack")
    fake_slack.fail_with("channel_not_found")
    ts = fresh_ts()
    response = post_event(http, event_body(mention("CGONE", ts)))
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "status": "accepted"}
    assert fake_slack.wait_for_posts(1, _in_thread("CGONE", ts))  # the call was made, and refused
    deadline = time.monotonic() + 10
    while "channel_not_found" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "channel_not_found" in caplog.text
    assert BOT_TOKEN not in caplog.text

    health = http.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    fake_slack.fail_with(None)
    later = fresh_ts()
    assert post_event(http, event_body(mention("CBACK", later))).json()["status"] == "accepted"
    assert fake_slack.wait_for_posts(1, _in_thread("CBACK", later))


# --- 10. Mattermost -------------------------------------------------------------------------------------------------


def unmarkdown(text: str) -> str:
    lines = [line[2:] if line.startswith("> ") else line.removeprefix(">") for line in text.split("\n")]
    return re.sub(r"\\([\\`*_~\[\]|])", r"\1", "\n".join(lines))


@pytest.mark.e2e
def test_mattermost_command_gets_markdown(shared_http: httpx.Client, article_text: str) -> None:
    body = command_body(ANSWERED, token=MM_TOKEN)
    response = shared_http.post("/slack/commands", content=body, headers={**FORM, "Authorization": f"Token {MM_TOKEN}"})
    assert response.status_code == 200, response.text
    reply = response.json()
    assert "blocks" not in reply
    assert reply["response_type"] == "ephemeral"
    text = reply["text"]
    assert text.startswith("**")
    assert "\n> " in text
    assert "<https://" not in text  # no Slack link syntax
    parts = text.split("\n\n")
    links = 0
    for above, part in itertools.pairwise(parts):
        link = MARKDOWN_LINK.search(part)
        if not link:
            continue
        links += 1
        start, end = int(link.group(1)), int(link.group(2))
        assert link.group(4) == DOC_ID
        assert (int(link.group(5)), int(link.group(6))) == (start, end)
        assert above.startswith("> ")
        assert article_text[start:end] in unmarkdown(above)
    assert links >= 1
    assert "hooks.slack.com" not in response.text


@pytest.mark.e2e
def test_mattermost_share_is_in_channel(shared_http: httpx.Client) -> None:
    body = command_body(f"share {ANSWERED}")
    response = shared_http.post("/slack/commands", content=body, headers={**FORM, "Authorization": f"Token {MM_TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.json()["response_type"] == "in_channel"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "authorization",
    [
        f"Token {MM_TOKEN}x",
        "Token wrong",
        f"Token {MM_TOKEN[:-1]}",
        f"Bearer {MM_TOKEN}",
        MM_TOKEN,
        "Token",
        f"token{MM_TOKEN}",
    ],
)
def test_mattermost_wrong_token_is_401(shared_http: httpx.Client, authorization: str) -> None:
    body = command_body(ANSWERED)
    response = shared_http.post("/slack/commands", content=body, headers={**FORM, "Authorization": authorization})
    assert_error(response, 401, "unauthorized")
    assert MM_TOKEN not in response.text


@pytest.mark.e2e
def test_mattermost_token_is_refused_when_only_slack_is_configured(
    settings: Settings, service: QAService, fake_slack: FakeSlack
) -> None:
    slack_only = chat_settings(settings, fake_slack.url, mattermost_token=None)
    with serving(slack_only, service) as http:
        body = command_body(ANSWERED)
        response = http.post("/slack/commands", content=body, headers={**FORM, "Authorization": f"Token {MM_TOKEN}"})
        assert_error(response, 401, "unauthorized")
        assert post_command(http, ANSWERED).status_code == 200


@pytest.mark.e2e
def test_slack_signature_is_refused_when_only_mattermost_is_configured(
    settings: Settings, service: QAService, fake_slack: FakeSlack
) -> None:
    mattermost_only = chat_settings(settings, fake_slack.url, slack_signing_secret=None, slack_bot_token=None)
    with serving(mattermost_only, service) as http:
        assert_error(post_command(http, ANSWERED), 401, "unauthorized")
        event = event_body(mention("C1", fresh_ts()))
        assert_error(http.post("/slack/events", content=event, headers={**JSON, **sign(event)}), 404, "chat_disabled")
        body = command_body(ANSWERED)
        response = http.post("/slack/commands", content=body, headers={**FORM, "Authorization": f"Token {MM_TOKEN}"})
        assert response.status_code == 200, response.text


# --- 11. body size --------------------------------------------------------------------------------------------------


def _padded(route: str, size: int) -> bytes:
    if route == "/slack/commands":
        head = command_body("").removesuffix(b"&trigger_id=1.2.3") + b"&trigger_id="
    else:
        head = event_body(mention("CBIG", fresh_ts()))[:-1] + b', "padding": "'
    tail = b"" if route == "/slack/commands" else b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.mark.e2e
@pytest.mark.parametrize("route", ["/slack/commands", "/slack/events"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_413(
    shared_http: httpx.Client, shared_slack: FakeSlack, settings: Settings, route: str, chunked: bool
) -> None:
    limit = settings.slack_max_body_bytes
    body = _padded(route, limit + 1)
    assert len(body) == limit + 1
    headers = {**(FORM if route == "/slack/commands" else JSON), **sign(body)}
    content: bytes | Iterator[bytes] = (
        iter([body[i : i + 4096] for i in range(0, len(body), 4096)]) if chunked else body
    )
    response = shared_http.post(route, content=content, headers=headers)
    if chunked:
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
    body_json = assert_error(response, 413, "payload_too_large")
    assert str(limit) in body_json["message"]
    assert shared_slack.posts(lambda c: c.body.get("channel") == "CBIG") == []


@pytest.mark.e2e
def test_body_at_the_limit_is_accepted(shared_http: httpx.Client, settings: Settings) -> None:
    body = _padded("/slack/commands", settings.slack_max_body_bytes)
    response = shared_http.post("/slack/commands", content=body, headers={**FORM, **sign(body)})
    assert response.status_code == 200, response.text
    assert "/newsqa" in response.json()["text"]  # empty text: the usage


# --- 12. events while the index is loading --------------------------------------------------------------------------


@pytest.mark.e2e
def test_event_while_loading_is_503_and_its_retry_is_answered(
    settings: Settings, service: QAService, fake_slack: FakeSlack, article_text: str
) -> None:
    loader = GatedLoader(service)
    try:
        with serving(chat_settings(settings, fake_slack.url), loader=loader) as http:
            ts = fresh_ts()
            body = event_body(mention("CLOAD", ts), "EvLoad")
            assert_error(post_event(http, body), 503, "not_ready")
            loading = post_command(http, ANSWERED)
            assert loading.status_code == 200, loading.text
            assert "still loading" in loading.json()["text"]

            loader.gate.set()
            assert poll_readyz(http.get, is_ready).status_code == 200
            retry = post_event(http, body, retry=1)
            assert retry.status_code == 200, retry.text
            assert retry.json() == {"ok": True, "status": "accepted"}
            assert post_event(http, body, retry=2).json()["status"] == "duplicate"
            [post] = fake_slack.wait_for_posts(1, _in_thread("CLOAD", ts))
            assert_answer_posted(post, article_text)
    finally:
        loader.gate.set()
    assert len(fake_slack.posts()) == 1


@pytest.mark.e2e
def test_a_slash_command_replayed_byte_for_byte_is_answered_once(shared_http: httpx.Client) -> None:
    body = command_body(ANSWERED)
    headers = {**sign(body), "Content-Type": "application/x-www-form-urlencoded"}
    first = shared_http.post("/slack/commands", content=body, headers=headers)
    replay = shared_http.post("/slack/commands", content=body, headers=headers)
    assert first.status_code == replay.status_code == 200
    assert first.json()["blocks"] and replay.json() == {"response_type": "ephemeral", "text": ""}
    fresh = post_command(shared_http, ANSWERED)  # the same question asked again is a new command
    assert fresh.json()["blocks"]
