"""`newsqa serve`: the HTTP API under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.base import app, core_errors, state_of


@app.command(short_help="Run the HTTP API.")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(metavar="HOST", help="Address to bind [env NEWSQA_HOST, default 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on [env NEWSQA_PORT, default 8000]."),
    ] = None,
) -> None:
    """Run the HTTP API with uvicorn (one worker).

    The model and the index load in the background at start-up; /readyz says when they are ready.

    \b
    Examples:
      newsqa serve
      newsqa serve --host 0.0.0.0 --port 8080
    """
    from app.api.server import run_server  # imported here: only `serve` needs FastAPI and uvicorn

    state = state_of(ctx)
    with core_errors():
        given = {"host": host, "port": port}
        settings = state.settings(**{k: v for k, v in given.items() if v is not None})
        run_server(settings)
