"""`newsqa index`, `add` and `remove`: build or check the index, and change the briefs it holds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from app.api.writer import ReplicaWriteLock
from app.cli.base import app, core_errors, report_progress, state_of
from app.errors import InvalidDocumentError
from app.index.lifecycle import load_or_build_index
from app.index.search import open_search
from app.ingest.corpus import corpus_has_briefs, read_json_object
from app.ingest.sources import SUPPORTED_SUFFIXES, BriefMetadata, decode, format_of, make_brief, metadata
from app.models import DocumentChange
from app.prompts import Prompts
from app.service import QAService


@app.command(short_help="Build or check the index and show what it holds.")
def index(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the index is up to date.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as one JSON object.")] = False,
) -> None:
    """Build the index if missing or stale (or --force), and show what it holds.

    \b
    Examples:
      newsqa index
      newsqa index --force
      newsqa --corpus-dir ~/articles --index-dir ~/articles-index index --json
    """
    state = state_of(ctx)
    with core_errors():
        settings = state.settings()
        prompts = Prompts.load(settings.prompts_dir)
        search = open_search(settings)
        try:
            loaded = load_or_build_index(
                settings, state.encoders(), force=force, progress=report_progress, search=search
            )
        finally:
            search.close()
        build = settings.index_dir / loaded.manifest.build_dir
        if as_json:
            summary = {"rebuilt": loaded.rebuilt, "updated": loaded.updated, "build": str(build),
                       "manifest": loaded.manifest.model_dump()}
            typer.echo(json.dumps(summary, ensure_ascii=False))
        else:
            typer.echo(prompts.render("cli_index.txt", manifest=loaded.manifest, build=build, rebuilt=loaded.rebuilt,
                                      updated=loaded.updated))


def brief_files(paths: Sequence[Path]) -> list[Path]:
    """The files to add: each file given, and every supported file inside each folder given (sorted)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUPPORTED_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise typer.BadParameter(f"{path}: no such file or folder", param_hint="'PATH'")
    return found


def sidecar_metadata(path: Path) -> BriefMetadata:
    """Metadata from `<file>.meta.json` or `<stem>.meta.json` beside the file, when there is one."""
    for sidecar in (path.with_name(path.name + ".meta.json"), path.with_name(path.stem + ".meta.json")):
        if sidecar.is_file():
            values = read_json_object(sidecar)
            if values is None:
                raise InvalidDocumentError(f"{sidecar}: not a readable JSON object")
            return metadata(values, str(sidecar))
    return BriefMetadata.model_validate({})


@app.command(short_help="Add briefs (.txt, .md, .html files or folders) to the corpus and the index.")
def add(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(metavar="PATH", help="Files, or folders to add every brief of.")],
    source: Annotated[str | None, typer.Option(metavar="SOURCE", help="Source of every brief added.")] = None,
    published: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Publication date of every brief added.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title (one file only).")] = None,
    url: Annotated[str | None, typer.Option(help="Original URL (one file only).")] = None,
    doc_id: Annotated[str | None, typer.Option("--doc-id", help="Document id (one file only).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per brief.")] = False,
) -> None:
    """Add briefs, or new versions of them; only the briefs added or changed are embedded.

    Metadata comes from these options, then a `<file>.meta.json` sidecar, then YAML front matter (.txt/.md)
    or the page itself (.html). Adding the same brief again changes nothing; a field left out keeps the value
    stored with the brief. Into a corpus folder that is missing or empty, the first add starts the corpus.

    \b
    Examples:
      newsqa add briefs/                                   # every .txt, .md and .html inside
      newsqa add --source Reuters --published 2026-10-03 storm.html
      newsqa add --doc-id talks-day-3 --title "Talks, day 3" notes.md
    """
    state = state_of(ctx)
    with core_errors():
        files = brief_files(paths)
        if not files:
            searched = ", ".join(str(p) for p in paths)
            raise typer.BadParameter(f"no .txt, .md or .html files in {searched}", param_hint="'PATH'")
        if len(files) > 1 and (title or url or doc_id):
            raise typer.BadParameter("--title, --url and --doc-id need exactly one file")
        given = metadata(
            {
                "source": source,
                "published": published.date() if published else None,
                "title": title,
                "url": url,
                "doc_id": doc_id,
            },
            "options",
        )
        now = datetime.now(UTC)
        briefs = [
            make_brief(
                decode(path.read_bytes(), str(path)),
                format_of(path.name),
                given.merged(sidecar_metadata(path)),
                path.stem,
                str(path),
                now,
            )
            for path in files
        ]
        settings = state.settings()
        if settings.search_backend == "builtin" and not corpus_has_briefs(settings.corpus_dir):
            # a first add: the corpus begins with these briefs (the folder is made if missing)
            changes = QAService.start_corpus(settings, briefs, state.encoders(), report_progress)
        else:
            service = state.service(settings)
            with ReplicaWriteLock.from_settings(settings).held():  # NEWSQA_REDIS_URL: in turn with every replica
                changes = service.add_documents(briefs, report_progress)
        for change in changes:
            typer.echo(render_change(change, as_json))


@app.command(short_help="Remove briefs from the corpus and the index.")
def remove(
    ctx: typer.Context,
    doc_ids: Annotated[list[str], typer.Argument(metavar="DOC_ID", help="Ids of the briefs to remove.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per brief.")] = False,
) -> None:
    """Remove briefs; the others keep their vectors.

    \b
    Examples:
      newsqa remove storm                                  # the brief added from storm.html
    """
    state = state_of(ctx)
    with core_errors():
        settings = state.settings()
        service = state.service(settings)
        lock = ReplicaWriteLock.from_settings(settings)
        for doc_id in doc_ids:
            with lock.held():
                change = service.remove_document(doc_id)
            typer.echo(render_change(change, as_json))


def render_change(change: DocumentChange, as_json: bool) -> str:
    if as_json:
        return json.dumps({"doc_id": change.doc_id, "status": change.status, "sha256": change.sha256})
    return f"{change.status:<9} {change.doc_id}  sha256 {change.sha256[:12]}"
