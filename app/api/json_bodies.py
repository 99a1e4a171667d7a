"""JSON request bodies, read one way on every route: an object that names a key twice is refused, not resolved
to whichever value the parser happens to keep (Python's, and pydantic's, keep the last one silently)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response


class RepeatedKeyError(ValueError):
    """A JSON object names `key` more than once."""

    def __init__(self, key: str, count: int) -> None:
        super().__init__(f"the key {key!r} is given {count} times")
        self.key, self.count = key, count

    def validation_error(self) -> RequestValidationError:
        """The 422 `validation_error` that names the key (app.api.app renders it like any other)."""
        message = f"given {self.count} times; a JSON object names each key once"
        return RequestValidationError([{"type": "repeated_key", "loc": ("body", self.key), "msg": message}])


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    values = dict(pairs)
    if len(values) < len(pairs):  # one pass to name the first key given twice: linear in the object's size
        counts = Counter(key for key, _ in pairs)
        repeated = next(key for key, _ in pairs if counts[key] > 1)
        raise RepeatedKeyError(repeated, counts[repeated])
    return values


def loads(body: bytes | str) -> Any:
    """`json.loads`, except that an object naming a key twice is RepeatedKeyError (a ValueError). Malformed JSON
    raises as json.loads does (JSONDecodeError, UnicodeDecodeError; RecursionError when nested too deeply)."""
    return json.loads(body, object_pairs_hook=_object)


def is_json(request: Request) -> bool:
    """Whether the request says its body is JSON (`application/json` or `application/*+json`), as FastAPI reads it."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class JsonRequest(Request):
    """A request whose `json()` is `loads`: what FastAPI parses a declared body with."""

    async def json(self) -> Any:
        if not hasattr(self, "_parsed"):
            self._parsed = loads(await self.body())
        return self._parsed


class JsonRoute(APIRoute):
    """A route whose JSON body (when it declares one) is read with `loads`: a repeated key is a 422 naming it.

    FastAPI turns any exception from `Request.json()` but a JSONDecodeError into a 400, so the body is parsed
    here first; malformed JSON and a body cut off are left to FastAPI, which answers them as before."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if self.body_field is None:
            return handle

        async def handler(request: Request) -> Response:
            request = JsonRequest(request.scope, request.receive)
            if is_json(request):
                try:
                    if await request.body():
                        await request.json()
                except RepeatedKeyError as exc:
                    raise exc.validation_error() from None
                except (ValueError, RecursionError, ClientDisconnect):
                    pass  # not JSON, or the body cap cut it off (app.api.guards): FastAPI answers it as ever
            return await handle(request)

        return handler
