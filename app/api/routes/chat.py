"""The chat edge: Slack slash commands and Events API mentions, and Mattermost's Slack-compatible slash commands.

Requests are authenticated before anything is parsed (Slack: v0 signature via slack_sdk's SignatureVerifier;
Mattermost: a static token compared in constant time). Slash commands are answered in the HTTP response (an
answer takes milliseconds, far inside Slack's 3-second window). Events are acknowledged at once and answered
afterwards in the message's thread through `chat.postMessage`; retries and repeated event ids are answered once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

import anyio.to_thread
from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import ValidationError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier

from app.api.deps import read_body, runtime_of, state_of
from app.api.errors import BadRequestError, ChatDisabledError, NotReadyError, UnauthorizedError
from app.api.json_bodies import loads
from app.api.schemas import (
    ChatCommandResponse,
    EventAck,
    SlackEnvelope,
    SlackEvent,
    SlashCommandForm,
    UrlVerificationResponse,
    error_responses,
)
from app.chat.format import (
    DIALECTS,
    ChatIntent,
    ChatMessage,
    Platform,
    ResponseType,
    compose_chat_message,
    compose_chat_notice,
    mattermost_payload,
    parse_intent,
    slack_payload,
)
from app.config import Settings
from app.errors import InvalidQuestionError
from app.models import Answer
from app.prompts import Prompts
from app.service import QAService

log = logging.getLogger("newsqa.slack")

MAX_FORM_FIELDS = 64


@dataclass
class ChatGateway:
    """The configured chat platforms: how to authenticate them, the wording, and the Slack Web API client."""

    settings: Settings
    prompts: Prompts
    verifier: SignatureVerifier | None
    mattermost_token: bytes | None
    web: WebClient | None
    on_answer: Callable[[Answer], None] | None = None  # counts each answer (newsqa_answers_total), as /ask does

    @classmethod
    def from_settings(
        cls, settings: Settings, on_answer: Callable[[Answer], None] | None = None
    ) -> ChatGateway | None:
        """The gateway, or None when neither a Slack signing secret nor a Mattermost token is configured."""
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
        token = settings.mattermost_token.get_secret_value() if settings.mattermost_token else ""
        if not secret.strip() and not token.strip():
            return None
        bot_token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        return cls(
            settings=settings,
            prompts=Prompts.load(settings.prompts_dir),
            verifier=SignatureVerifier(secret) if secret.strip() else None,
            mattermost_token=token.encode() if token.strip() else None,
            web=WebClient(token=bot_token, base_url=settings.slack_api_url, timeout=10) if bot_token else None,
            on_answer=on_answer,
        )

    def describe(self) -> str:
        """Which chat features are on, for the start-up log (never the secrets themselves)."""
        slack = "Slack commands" + (" and events" if self.web else " (events off: no bot token)")
        parts = [slack] if self.verifier else []
        parts += ["Mattermost commands"] if self.mattermost_token else []
        return ", ".join(parts)

    def verify_slack(self, headers: Mapping[str, str], body: bytes) -> None:
        """UnauthorizedError unless the body carries a fresh, valid Slack v0 signature."""
        if self.verifier is None:
            raise UnauthorizedError("Slack requests are not accepted here: no signing secret is configured")
        timestamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if not timestamp or not signature:
            raise UnauthorizedError("missing Slack signature headers")
        try:
            valid = self.verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except (ValueError, TypeError, OverflowError):  # a non-numeric timestamp raises inside slack_sdk
            valid = False
        if not valid:
            raise UnauthorizedError("invalid or expired Slack signature")

    def authenticate_command(self, headers: Mapping[str, str], body: bytes) -> Platform:
        """Which platform sent this slash command: a Slack signature, or Mattermost's `Authorization: Token`."""
        if "x-slack-signature" in headers:
            self.verify_slack(headers, body)
            return "slack"
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "token" and token.strip():
            if self.mattermost_token is None or not hmac.compare_digest(token.strip().encode(), self.mattermost_token):
                raise UnauthorizedError("invalid Mattermost token")
            return "mattermost"
        raise UnauthorizedError("the request is neither signed by Slack nor carries a Mattermost token")

    def reply(self, service: QAService | None, intent: ChatIntent, platform: Platform) -> ChatMessage:
        """The message answering one chat request (help, not ready, an invalid question, or the answer)."""
        dialect = DIALECTS[platform]
        command = self.settings.slack_command
        documents = len(service.bundle.documents) if service else 1
        if intent.question is None:
            return compose_chat_notice("chat_help.txt", self.prompts, dialect, command=command, documents=documents)
        if service is None:
            return compose_chat_notice("chat_not_ready.txt", self.prompts, dialect)
        try:
            answer = service.ask(intent.question)
        except InvalidQuestionError as exc:
            return compose_chat_notice("chat_invalid.txt", self.prompts, dialect, reason=exc.message, command=command)
        if self.on_answer is not None:
            self.on_answer(answer)
        return compose_chat_message(answer, self.prompts, dialect, self.settings.base_url, documents)

    def response_type(self, intent: ChatIntent) -> ResponseType:
        return "in_channel" if intent.share and intent.question else self.settings.slack_response_type

    def answer_in_thread(self, service: QAService, event: SlackEvent, event_id: str) -> None:
        """Answer a mention or direct message with a reply in its thread (runs after the event was acknowledged)."""
        assert self.web is not None and event.channel and event.ts
        started = time.perf_counter()
        message = self.reply(service, parse_intent(event.text), "slack")
        try:
            self.web.chat_postMessage(
                channel=event.channel, thread_ts=event.thread_ts or event.ts, **slack_payload(message)
            )
        except (SlackApiError, SlackClientError, OSError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.error("reply to event %s in %s failed: %s", event_id, event.channel, error)
            return
        log.info("answered event %s in %s in %.0f ms", event_id, event.channel, (time.perf_counter() - started) * 1e3)


def _bot_user_ids(envelope: SlackEnvelope) -> set[str]:
    return {a.user_id for a in envelope.authorizations if a.is_bot and a.user_id}


def is_question_for_the_bot(event: SlackEvent, bot_users: set[str]) -> bool:
    """A mention, or a direct message, written by a person (never by this bot or any other bot, never an edit)."""
    if event.bot_id or event.subtype or not event.user or event.user in bot_users:
        return False
    if not event.channel or not event.ts:
        return False
    return event.type == "app_mention" or (event.type == "message" and event.channel_type == "im")


def gateway_of(request: Request) -> ChatGateway:
    gateway = state_of(request.app).chat
    if gateway is None:
        raise ChatDisabledError(
            "chat integration is off: set NEWSQA_SLACK_SIGNING_SECRET (Slack) or NEWSQA_MATTERMOST_TOKEN (Mattermost)"
        )
    return gateway


def parse_form(body: bytes) -> SlashCommandForm:
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError(f"the slash command is not a UTF-8 form body: {exc}") from None
    return SlashCommandForm.model_validate({name: values[0] for name, values in fields.items()})


def parse_envelope(body: bytes) -> SlackEnvelope:
    try:
        return SlackEnvelope.model_validate(loads(body))  # a key given twice is refused (app.api.json_bodies)
    except RecursionError:  # nested thousands of levels deep: the parser gives up on the stack, not a bug here
        raise BadRequestError("the event is not a Slack Events API JSON body: nested too deeply") from None
    except (ValueError, ValidationError) as exc:
        raise BadRequestError(f"the event is not a Slack Events API JSON body: {str(exc).splitlines()[0]}") from None


router = APIRouter(prefix="/slack", tags=["chat"])


@router.post(
    "/commands",
    response_model=ChatCommandResponse,
    response_model_exclude_none=True,
    responses=error_responses(400, 401, 404, 413),
)
async def slash_command(request: Request) -> ChatCommandResponse:
    """A slash command from Slack (signed) or Mattermost (`Authorization: Token`), answered in the response.

    `text` is the question; `help` or nothing gives usage; a leading `share` posts the answer to the channel.
    """
    gateway = gateway_of(request)
    body = await read_body(request, gateway.settings.slack_max_body_bytes)
    platform = gateway.authenticate_command(request.headers, body)
    form = parse_form(body)
    if form.ssl_check:  # Slack's certificate probe carries no command
        return ChatCommandResponse(response_type="ephemeral", text="")
    # a signed command replayed byte for byte (same timestamp, same body) within the replay window is answered
    # once, like a retried event: the signature makes the pair unique to one real command
    stamp = request.headers.get("x-slack-request-timestamp", "")
    replay_key = "command:" + hashlib.sha256(stamp.encode() + b":" + body).hexdigest()
    if platform == "slack" and not await state_of(request.app).shared.dedup.first_time(replay_key):
        log.info("replayed slash command ignored")
        return ChatCommandResponse(response_type="ephemeral", text="")
    intent = parse_intent(form.text)
    message = await anyio.to_thread.run_sync(gateway.reply, runtime_of(request).service, intent, platform)
    response_type = gateway.response_type(intent)
    if platform == "mattermost":
        return ChatCommandResponse.model_validate(mattermost_payload(message, response_type))
    payload = slack_payload(message, response_type)
    return ChatCommandResponse.model_validate(payload)


@router.post(
    "/events",
    response_model=EventAck | UrlVerificationResponse,
    responses=error_responses(400, 401, 404, 413, 503),
)
async def slack_events(request: Request, background: BackgroundTasks) -> EventAck | UrlVerificationResponse:
    """Slack Events API: answers `url_verification`; acknowledges `app_mention` and direct messages at once and
    replies in the message's thread. A retried or repeated event is acknowledged as `duplicate` and not answered."""
    gateway = gateway_of(request)
    if gateway.verifier is None or gateway.web is None:
        raise ChatDisabledError("Slack events need NEWSQA_SLACK_SIGNING_SECRET and NEWSQA_SLACK_BOT_TOKEN")
    body = await read_body(request, gateway.settings.slack_max_body_bytes)
    gateway.verify_slack(request.headers, body)
    envelope = parse_envelope(body)
    if envelope.type == "url_verification":
        return UrlVerificationResponse(challenge=envelope.challenge or "")
    event = envelope.event
    if envelope.type != "event_callback" or event is None:
        return EventAck(status="ignored")
    if not is_question_for_the_bot(event, _bot_user_ids(envelope)):
        return EventAck(status="ignored")
    keys = (f"message:{event.channel}:{event.ts}",) + ((f"event:{envelope.event_id}",) if envelope.event_id else ())
    service = runtime_of(request).service
    if service is None:  # checked before the event counts as seen: Slack retries a 503 later
        raise NotReadyError(runtime_of(request).reason)
    if not await state_of(request.app).shared.dedup.first_time(*keys):
        log.info("duplicate event %s (retry %s)", envelope.event_id, request.headers.get("x-slack-retry-num", "-"))
        return EventAck(status="duplicate")
    background.add_task(gateway.answer_in_thread, service, event, envelope.event_id or "-")
    return EventAck(status="accepted")

