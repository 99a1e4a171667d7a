"""The Milvus search backend: candidate generation in Milvus, through pymilvus's `MilvusClient` (the only
importer of pymilvus).

One client API covers Milvus Lite (a local folder, or its gRPC server: `milvus-lite server`), Milvus Standalone
and Milvus Distributed. Two collections hold one row per sentence and per passage of every brief: a
deterministic id (kind, doc_id, version, piece), `doc_id`, `version` (the manifest's "sha256:metahash"), the
piece's number, offsets and section, the brief's source (case-folded) and publication date for filters, the
vector, and the piece's BM25 terms (newsqa's own folded, stemmed terms, so Milvus's BM25 function matches the
same words bm25s does). A third collection holds one marker per (doc_id, version): written incomplete before
the version's rows, complete after all of them, and incomplete again before they are deleted. `publish` skips
a version whose marker is complete, rewrites one whose marker is incomplete or missing, and deletes an
incomplete one no build wants (the rows of a writer that died half way), so a retried write is idempotent and
a crash at any point leaves nothing a later publish does not finish or clear.

Two more collections make Milvus where the briefs live, so replicas need no shared folder: `<prefix>_documents`
holds each version's text (in parts of at most 60,000 UTF-8 bytes) and metadata, written with its rows before
its marker is complete; `<prefix>_builds` holds, per generation, the listing of the build's (doc_id, version)
pairs, and one head row naming the current generation, upserted last by `commit`. A replica that reads a new
head fetches what it lacks (`stored_documents`, `stored_vectors`) and builds its own copy
(`app/index/lifecycle.py` `synced_index`).

A question asks Milvus for the nearest rows and the BM25 matches, within its filter; each hit becomes a row of
the replica's loaded build, and a hit of a version the build does not hold (a newer brief not loaded yet, an
older one not deleted yet) is dropped, so a question never mixes two versions of a brief. Scoring reads the
loaded build, exactly as with the built-in search.

Every call has a timeout and is retried once; a backend that still does not answer raises
`SearchBackendUnavailableError` (a 503 at the HTTP edge), one that answers but refuses the call raises
`SearchBackendRefusedError` (a 503 with Milvus's reason), and `unreachable()` tells readiness why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypeVar

import grpc
import numpy as np
from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.exceptions import MilvusUnavailableException

from app.config import Settings
from app.errors import SearchBackendRefusedError, SearchBackendUnavailableError
from app.index.bundle import IndexBundle, passage_match_text
from app.index.search import (
    BuildHead,
    CandidateQuery,
    FloatArray,
    PieceKind,
    RowArray,
    RowFilter,
    made_with,
    piece_version,
    piece_versions,
)
from app.ingest.blocks import make_document
from app.models import Document, DocumentFilter, DocumentMeta, ParsedDocument
from app.text.normalize import terms

log = logging.getLogger(__name__)

T = TypeVar("T")
EMPTY_TERMS = "zzemptyzz"  # a piece without any term (bm25s indexes such rows under a placeholder too)
MAX_VARCHAR = 65_535
HNSW = {"M": 32, "efConstruction": 80}  # as the built-in FAISS HNSW graph (app/index/vectors.py)
HNSW_EF_SEARCH = 128
WRITE_BATCH = 500
# questions and probes wait NEWSQA_MILVUS_TIMEOUT_SECONDS; writes, which run off the question path, wait longer,
# and loading a collection or sealing (flushing) new rows, which reads or indexes whole segments, longest
WRITE_TIMEOUT_SECONDS = 60.0
SETUP_TIMEOUT_SECONDS = 600.0
# pymilvus pings an idle channel every 10 s; a gRPC server on its defaults (milvus-lite's is one) permits a ping
# without data only every 5 minutes and answers more with GOAWAY "too_many_pings", which drops the channel
# and fails the next call. Every call has its own timeout and a retry on a new channel, which is what finds a
# dead connection here, so the keepalive only has to stay within what servers permit.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 330_000}
RETRY_PAUSE_SECONDS = 0.2
MARKER_VECTOR = [0.0, 0.0]  # every Milvus collection needs a vector field; the markers' is a placeholder
TEXT_PART_BYTES = 60_000  # a document's text is stored in parts of at most this many UTF-8 bytes
READ_BATCH = 1000  # ids per get, documents per query
HEAD = "head"  # the builds collection's one row that names the current build
META_FIELDS = frozenset(f.name for f in fields(DocumentMeta))
Operation = Literal["dense", "lexical", "write", "delete", "read", "ping"]
Collection = Literal["sentence", "passage", "version", "document", "build"]
COLLECTIONS: tuple[Collection, ...] = ("sentence", "passage", "version", "document", "build")


class _LiteTimestampNotice(logging.Filter):
    """Drops pymilvus's one warning that Milvus Lite sends no MVCC timestamp for a query iterator: the
    iterator then uses the client's clock, which is what reading the version markers needs (they are written
    before the build that needs them is committed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "failed to get mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_LiteTimestampNotice())


@dataclass
class BackendStats:
    """Calls, seconds spent and failures per operation (read by the metrics collector at scrape time)."""

    calls: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> tuple[dict[str, int], dict[str, float], dict[str, int]]:
        """Calls, seconds and errors as one consistent copy (a scrape runs beside the calls it counts)."""
        with self._lock:
            return dict(self.calls), dict(self.seconds), dict(self.errors)

    def record(self, operation: str, seconds: float, failed: bool) -> None:
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            self.seconds[operation] = self.seconds.get(operation, 0.0) + seconds
            if failed:
                self.errors[operation] = self.errors.get(operation, 0) + 1


def row_id(kind: str, doc_id: str, version: str, piece: int) -> int:
    """A stable 63-bit primary key: the same piece of the same version always gets the same row."""
    digest = hashlib.blake2b(f"{kind}\x1f{doc_id}\x1f{version}\x1f{piece}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


def bm25_terms(text: str) -> str:
    """The piece's terms as Milvus indexes them: newsqa's terms (letters and digits only), space-separated,
    cut at a term boundary below Milvus's VARCHAR limit (only a pathological run-on sentence reaches it)."""
    joined = " ".join(terms(text)) or EMPTY_TERMS
    if len(joined.encode()) > MAX_VARCHAR:
        clipped = clip_bytes(joined, MAX_VARCHAR)
        joined = clipped[: clipped.rfind(" ")] if " " in clipped else clipped
    return joined


def clip_bytes(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, on a character boundary (Milvus's VARCHAR max_length counts
    bytes, so a heading in Chinese or Greek reaches it at a third or a half of the characters)."""
    return text.encode()[:limit].decode("utf-8", errors="ignore")


def _quoted(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a Milvus string literal (quotes and backslashes escaped)


def filter_expression(where: DocumentFilter | None, doc_ids: Sequence[str] | None) -> str:
    """The Milvus boolean expression for a question's filter (empty: every row).

    The filter itself is translated (source, date range, ids), not the list of briefs it matched, so a filter
    over a large archive stays one short expression."""
    clauses: list[str] = []
    if where is not None and not where.is_empty:
        if where.doc_ids:
            clauses.append(f"doc_id in [{', '.join(_quoted(d) for d in where.doc_ids)}]")
        if where.source:
            clauses.append(f"source == {_quoted(where.source.casefold())}")
        if where.published_from:
            clauses.append(f'published != "" and published >= {_quoted(where.published_from)}')
        if where.published_to:
            clauses.append(f'published != "" and published <= {_quoted(where.published_to)}')
    elif doc_ids is not None:
        clauses.append(f"doc_id in [{', '.join(_quoted(d) for d in doc_ids)}]")
    return " and ".join(f"({c})" for c in clauses)


class MilvusSearch:
    """Candidates from Milvus collections `<prefix>_sentences` and `<prefix>_passages`.

    The constructor only stores; the client connects on first use (and again after a failure), so a replica
    started while Milvus is down comes up, says not ready, and recovers by itself when Milvus returns."""

    name = "milvus"

    def __init__(
        self,
        uri: str,
        token: str | None,
        prefix: str,
        timeout: float,
        vector_index: Literal["FLAT", "HNSW"],
        connect: Callable[..., MilvusClient] = MilvusClient,
    ) -> None:
        self.uri = uri
        self.token = token
        self.prefix = prefix
        self.timeout = timeout
        self.write_timeout = max(timeout, WRITE_TIMEOUT_SECONDS)
        self.setup_timeout = max(timeout, SETUP_TIMEOUT_SECONDS)
        self.vector_index = vector_index
        self.stats = BackendStats()
        self._connect = connect
        self._client: MilvusClient | None = None
        self._ready: set[str] = set()  # collections known to exist and be loaded
        self._lock = threading.Lock()
        self.refused: str | None = None  # why Milvus refused a question's search, until one succeeds again

    @classmethod
    def from_settings(cls, settings: Settings) -> MilvusSearch:
        if not settings.milvus_uri:
            raise ValueError("NEWSQA_SEARCH_BACKEND=milvus needs NEWSQA_MILVUS_URI")
        token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
        return cls(
            settings.milvus_uri, token, settings.milvus_collection_prefix, settings.milvus_timeout_seconds,
            settings.milvus_vector_index,
        )

    # ------------------------------------------------------------------ plumbing

    def collection(self, kind: Collection) -> str:
        return f"{self.prefix}_{kind}s"

    def _client_now(self) -> MilvusClient:
        with self._lock:
            if self._client is None:
                # dedicated: a channel of this object's own, so that forgetting a failed client really drops its
                # channel and the retry connects afresh (pymilvus otherwise shares one per address and token)
                kwargs: dict[str, Any] = {"uri": self.uri, "timeout": self.timeout, "dedicated": True}
                if self.uri.startswith(("http://", "https://")):
                    kwargs["grpc_options"] = GRPC_OPTIONS
                if self.token:
                    kwargs["token"] = self.token
                self._client = self._connect(**kwargs)
            return self._client

    def _forget_client(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._ready.clear()
        if client is not None:
            try:
                client.close()
            except Exception:  # a broken channel may fail to close; it is dropped either way
                log.debug("closing a broken Milvus client failed", exc_info=True)

    def _call(self, operation: Operation, work: Callable[[MilvusClient], T], attempts: int = 2) -> T:
        """Run one backend call with the timeout, retried once on a new connection; count it.

        When the retry fails too, the failure is told apart: a connection that failed (gRPC's errors, timeouts)
        or a Milvus that does not answer one ping is unavailable (readiness fails, start-up waits for it); any
        other error from a Milvus that answers the ping is a refusal of the call itself
        (`SearchBackendRefusedError`: a deployment error that waiting does not fix, reported with its cause).
        Error codes would be the other way, but they differ between Milvus Lite and Milvus Standalone."""
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                result = work(self._client_now())
            except Exception as exc:  # pymilvus raises MilvusException, grpc errors and OSError alike
                self.stats.record(operation, time.perf_counter() - started, failed=True)
                log.warning("Milvus %s failed (attempt %d): %s", operation, attempt, exc)
                self._forget_client()
                if attempt == attempts:
                    if operation != "ping" and not _transport_error(exc) and self._answers():
                        cause = f"the search backend (Milvus) refuses the {operation} call: {_cause(exc)}"
                        log.error("%s", cause)
                        if operation in ("dense", "lexical"):
                            self.refused = cause
                        raise SearchBackendRefusedError(cause) from exc
                    raise SearchBackendUnavailableError(
                        "the search backend (Milvus) did not answer; retry shortly"
                    ) from exc
                time.sleep(RETRY_PAUSE_SECONDS)
            else:
                self.stats.record(operation, time.perf_counter() - started, failed=False)
                if operation in ("dense", "lexical"):
                    self.refused = None  # questions are answered again
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _answers(self) -> bool:
        """Whether Milvus answers one `list_collections` within the timeout (on a new connection)."""
        started = time.perf_counter()
        try:
            self._client_now().list_collections(timeout=self.timeout)
        except Exception:  # it does not answer: the failure was the connection, not the call
            self.stats.record("ping", time.perf_counter() - started, failed=True)
            self._forget_client()
            return False
        self.stats.record("ping", time.perf_counter() - started, failed=False)
        return True

    def _ensure(self, client: MilvusClient, kind: Collection, dimension: int, question: bool = False) -> str:
        """The collection's name, created and loaded when this client has not seen it yet. On a question's path
        (`question`) the load waits only a question's timeout: a Milvus that is still loading its segments
        answers 503 quickly instead of holding a worker for minutes."""
        name = self.collection(kind)
        if name in self._ready:
            return name
        timeout = self.timeout if question else self.setup_timeout
        if not client.has_collection(name, timeout=self.timeout):
            if kind in ("sentence", "passage"):
                schema, index = self._piece_schema(client, dimension)
            else:
                schema, index = self._bookkeeping_schema(client, kind)
            client.create_collection(
                name, schema=schema, index_params=index, consistency_level="Strong", timeout=timeout
            )
        client.load_collection(name, timeout=timeout)
        self._ready.add(name)
        return name

    def _piece_schema(self, client: MilvusClient, dimension: int) -> tuple[Any, Any]:
        schema = _versioned_schema(client)
        schema.add_field("piece", DataType.INT64)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("section", DataType.VARCHAR, max_length=1024)
        schema.add_field("source", DataType.VARCHAR, max_length=512)
        schema.add_field("published", DataType.VARCHAR, max_length=32)
        schema.add_field(
            "terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True,
            analyzer_params={"tokenizer": "standard"},
        )
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="terms_bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                output_field_names=["sparse"],
            )
        )
        index = client.prepare_index_params()
        if self.vector_index == "HNSW":
            index.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW)
        else:
            index.add_index("vector", index_type="FLAT", metric_type="IP")
        # bm25s's defaults (k1 1.5, b 0.75), so both backends rank BM25 matches alike
        index.add_index(
            "sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params={"bm25_k1": 1.5, "bm25_b": 0.75}
        )
        return schema, index

    @staticmethod
    def _bookkeeping_schema(client: MilvusClient, kind: Collection) -> tuple[Any, Any]:
        """Version markers (rows, complete); documents (the text in parts, the metadata as JSON); builds (each
        generation's listing of briefs in parts, and the head row naming the current generation)."""
        schema = _versioned_schema(client)
        if kind == "version":
            schema.add_field("rows", DataType.INT64)
            schema.add_field("complete", DataType.BOOL)
        else:
            schema.add_field("part", DataType.INT64)
            schema.add_field("body", DataType.VARCHAR, max_length=MAX_VARCHAR)
            if kind == "document":
                schema.add_field("meta", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=len(MARKER_VECTOR))
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="L2")
        return schema, index

    # ------------------------------------------------------------------ questions

    def candidates(self, bundle: IndexBundle, query: CandidateQuery) -> RowArray:
        dimension = int(query.vector.shape[0])
        allowed = query.allowed
        expression = ""
        if allowed is not None:
            if not len(allowed.rows(query.kind)):
                return np.zeros(0, dtype=np.int64)
            # the filter itself when it came with it; otherwise the briefs its rows belong to
            held = None if allowed.where is not None and not allowed.where.is_empty else _documents_of(
                bundle, allowed, query.kind
            )
            expression = filter_expression(allowed.where, held)
        fields = ["doc_id", "version", "piece"]
        vector = query.vector.astype(np.float32).tolist()

        def dense(client: MilvusClient) -> list[Any]:
            name = self._ensure(client, query.kind, dimension, question=True)
            params: dict[str, Any] = {"metric_type": "IP"}
            if self.vector_index == "HNSW":
                params["params"] = {"ef": max(HNSW_EF_SEARCH, query.limit)}
            hits = client.search(
                name, [vector], anns_field="vector", limit=query.limit, filter=expression, output_fields=fields,
                search_params=params, timeout=self.timeout,
            )
            return list(hits[0])

        hits = self._call("dense", dense)
        if query.terms:
            text = " ".join(query.terms)

            def lexical(client: MilvusClient) -> list[Any]:
                name = self._ensure(client, query.kind, dimension, question=True)
                found = client.search(
                    name, [text], anns_field="sparse", limit=query.limit, filter=expression, output_fields=fields,
                    search_params={"metric_type": "BM25"}, timeout=self.timeout,
                )
                return list(found[0])

            hits += self._call("lexical", lexical)
        return _rows_of(bundle, query.kind, hits, allowed)

    # ------------------------------------------------------------------ writes

    def publish(
        self, bundle: IndexBundle, previous: IndexBundle | None = None, delete_stale: bool = True
    ) -> None:
        """Write every version `bundle` holds that has no complete marker yet; with `delete_stale` (a write,
        under the writers' lock), then delete the rows and markers of versions neither `bundle` nor `previous`
        holds: old versions, and the rows a writer that died half way left under an incomplete marker (its
        retry, if any, rewrote the same ids first)."""
        dimension = int(bundle.sentence_matrix.shape[1])
        markers = self._markers(dimension)
        keep = set(piece_versions(previous).items()) if previous is not None else set()
        wanted = piece_versions(bundle)
        # a version published before the briefs were kept in Milvus has a complete marker and no text: written
        # again (the same ids), so that replicas without a shared folder can copy it
        textless = self._without_text([pair for pair in wanted.items() if markers.get(pair) is True], dimension)
        written = 0
        for doc_id, version in wanted.items():
            if markers.get((doc_id, version)) is not True or (doc_id, version) in textless:
                written += self._write_version(bundle, doc_id, version, dimension)
        stale = sorted(
            pair for pair in markers if delete_stale and pair[1] != wanted.get(pair[0]) and pair not in keep
        )
        for doc_id, version in stale:
            self._delete_version(doc_id, version, dimension)
        if written or stale:
            self._seal(dimension)
            log.info("Milvus: %d rows written, %d old or incomplete versions deleted", written, len(stale))

    def _seal(self, dimension: int) -> None:
        """Flush the collections after a publish: rows still in Milvus's write buffer are searched by brute
        force (Milvus Lite scans its in-memory table; Standalone its growing segments), sealed ones through their
        HNSW and inverted indexes, ten to twenty times faster on Milvus Lite (benchmarks/README.md). Only speed
        depends on it, never what a question sees: a flush Milvus refuses (Standalone limits flushes per
        collection and second) is logged and the publish stands."""
        def flush(kind: Collection) -> Callable[[MilvusClient], Any]:
            return lambda c: c.flush(self._ensure(c, kind, dimension), timeout=self.setup_timeout)

        for kind in COLLECTIONS:
            try:
                self._call("write", flush(kind))
            except SearchBackendUnavailableError:
                log.warning("Milvus: flushing %s failed; its new rows are searched unsealed until the next flush",
                            self.collection(kind))

    def _markers(self, dimension: int) -> dict[tuple[str, str], bool]:
        """Every version's marker: True once all its rows are in, False while (or if) they are being written."""
        rows = self._scan("version", "id >= 0", ["doc_id", "version", "complete"], dimension, batch_size=1000)
        return {(row["doc_id"], row["version"]): bool(row["complete"]) for row in rows}

    def _without_text(self, pairs: list[tuple[str, str]], dimension: int) -> set[tuple[str, str]]:
        """The (doc_id, version) pairs whose text's first part is not in the documents collection."""
        first = {row_id("document", doc_id, version, 0): (doc_id, version) for doc_id, version in pairs}
        present = {int(row["id"]) for row in self._get("document", list(first), ["id"], dimension)}
        return {pair for row, pair in first.items() if row not in present}

    def _get(self, kind: Collection, ids: list[int], fields: list[str], dimension: int) -> Iterator[dict[str, Any]]:
        """The rows of these primary keys that exist, READ_BATCH ids per call."""
        for batch in _batches(ids, READ_BATCH):
            def get(client: MilvusClient, batch: list[int] = batch) -> list[Any]:
                name = self._ensure(client, kind, dimension)
                return list(client.get(name, ids=batch, output_fields=fields, timeout=self.write_timeout))

            yield from self._call("read", get)

    def _write_version(self, bundle: IndexBundle, doc_id: str, version: str, dimension: int) -> int:
        parsed = bundle.documents[doc_id]
        rows = bundle.doc_rows[doc_id]
        sentences = _piece_rows(
            "sentence", parsed, version,
            [(s.sentence_id, s.start, s.end, s.section, s.text) for s in parsed.sentences],
            bundle.sentence_matrix[rows.sentence_start : rows.sentence_end],
        )
        passages = _piece_rows(
            "passage", parsed, version,
            [(p.passage_id, p.start, p.end, p.section, passage_match_text(p)) for p in parsed.passages],
            bundle.passage_matrix[rows.passage_start : rows.passage_end],
        )
        count = len(sentences) + len(passages)
        texts = _document_rows(parsed.document, version)
        # the marker first (a publish after a crash finds what to delete), complete last (all its rows are in)
        self._upsert("version", [_marker(doc_id, version, count, complete=False)], dimension)
        tables: tuple[tuple[Collection, list[dict[str, Any]]], ...] = (
            ("document", texts), ("sentence", sentences), ("passage", passages)
        )
        for kind, table in tables:
            for batch in _batches(table, WRITE_BATCH if kind != "document" else 8):
                self._upsert(kind, batch, dimension)
        self._upsert("version", [_marker(doc_id, version, count, complete=True)], dimension)
        return count

    def _upsert(self, kind: Collection, rows: list[dict[str, Any]], dimension: int) -> None:
        self._call("write", lambda c: c.upsert(self._ensure(c, kind, dimension), rows, timeout=self.write_timeout))

    def _delete_version(self, doc_id: str, version: str, dimension: int) -> None:
        expression = f"doc_id == {_quoted(doc_id)} and version == {_quoted(version)}"

        def delete(kind: Collection) -> Callable[[MilvusClient], Any]:
            return lambda c: c.delete(self._ensure(c, kind, dimension), filter=expression, timeout=self.write_timeout)

        # incomplete first: a delete that dies half way leaves a marker the next publish clears (or rewrites)
        self._upsert("version", [_marker(doc_id, version, 0, complete=False)], dimension)
        for kind in ("document", "sentence", "passage", "version"):
            self._call("delete", delete(kind))

    # ------------------------------------------------------------------ the briefs, for replicas without a shared folder

    def head(self) -> BuildHead | None:
        """The generation every replica should serve, from the builds collection's head row (None: no write
        has committed a build yet)."""

        def read(client: MilvusClient) -> list[Any]:
            name = self._ensure(client, "build", 0, question=True)
            return list(client.query(name, filter=f"id == {HEAD_ID}", output_fields=["part", "body"],
                                     timeout=self.timeout))

        rows = self._call("read", read)
        if not rows:
            return None
        body = json.loads(rows[0]["body"])
        return BuildHead(
            str(body["build"]), int(rows[0]["part"]), str(body["previous"]), str(body["identity"]),
            int(body["parts"]), int(body["documents"]),
        )

    def listing(self, head: BuildHead) -> list[tuple[str, str]] | None:
        rows = self._scan("build", f"version == {_quoted(head.build)}", ["part", "body"])
        bodies = {int(row["part"]): str(row["body"]) for row in rows if int(row["part"]) < head.parts}
        if sorted(bodies) != list(range(head.parts)):
            return None  # deleted by a later write while it was read
        pairs = [(str(d), str(v)) for part in range(head.parts) for d, v in json.loads(bodies[part])]
        return pairs if len(pairs) == head.documents else None

    def stored_documents(self, wanted: Sequence[tuple[str, str]]) -> dict[str, Document] | None:
        found: dict[str, Document] = {}
        for batch in _batches(list(wanted), READ_BATCH // 10):
            versions = dict(batch)
            expression = f"doc_id in [{', '.join(_quoted(d) for d in versions)}]"
            parts: dict[str, dict[int, dict[str, Any]]] = {}
            for row in self._scan("document", expression, ["doc_id", "version", "part", "body", "meta"]):
                if versions.get(row["doc_id"]) == row["version"]:
                    parts.setdefault(row["doc_id"], {})[int(row["part"])] = row
            for doc_id in versions:
                rows = parts.get(doc_id)
                if not rows or 0 not in rows:
                    return None
                head = json.loads(rows[0]["meta"])
                if sorted(rows) != list(range(int(head["parts"]))):
                    return None  # being deleted by a later write (or written by one that died): not whole
                text = "".join(str(rows[part]["body"]) for part in range(len(rows)))
                meta = {k: str(v) for k, v in head["meta"].items() if k in META_FIELDS}  # a newer writer's extras
                found[doc_id] = make_document(doc_id, text, DocumentMeta(**meta))
        return found

    def stored_vectors(
        self, kind: PieceKind, wanted: Sequence[tuple[str, str, int]], dimension: int
    ) -> dict[str, FloatArray] | None:
        ids = [row_id(kind, doc_id, version, piece) for doc_id, version, count in wanted for piece in range(count)]
        matrix = np.zeros((len(ids), dimension), dtype=np.float32)
        at = {row: i for i, row in enumerate(ids)}
        found = 0
        for row in self._get(kind, ids, ["vector"], dimension):
            matrix[at[int(row["id"])]] = row["vector"]  # into float32 at once: pymilvus's float lists are 8× larger
            found += 1
        if found != len(ids):
            return None
        out: dict[str, FloatArray] = {}
        start = 0
        for doc_id, _version, count in wanted:
            out[doc_id] = matrix[start : start + count]
            start += count
        return out

    def commit(self, bundle: IndexBundle, current: BuildHead | None) -> BuildHead:
        """The listing of the new build first, the head row naming it last (one upsert: a replica reads the old
        head or the new one); listings other than these two builds' are deleted (a replica may be reading the
        one before now)."""
        bodies = _listing_parts(list(piece_versions(bundle).items()))
        head = BuildHead(
            uuid.uuid4().hex, (current.generation if current else 0) + 1, current.build if current else "",
            made_with(bundle), len(bodies), len(bundle.documents),
        )
        rows = [_build_row(head.build, part, body) for part, body in enumerate(bodies)]
        for batch in _batches(rows, 8):
            self._upsert("build", batch, 0)
        body = json.dumps({"build": head.build, "previous": head.previous, "identity": head.identity,
                           "parts": head.parts, "documents": head.documents})
        self._upsert("build", [_build_row(HEAD, head.generation, body)], 0)
        kept = ", ".join(_quoted(v) for v in (HEAD, head.build, head.previous))
        try:  # housekeeping: the write is committed whether or not old listings go now (the next commit retries)
            self._call("delete", lambda c: c.delete(
                self._ensure(c, "build", 0), filter=f"version not in [{kept}]", timeout=self.write_timeout
            ))
        except (SearchBackendUnavailableError, SearchBackendRefusedError) as exc:
            log.warning("Milvus: old build listings not deleted (%s); the next commit tries again", exc.message)
        log.info("Milvus: generation %d committed as build %s (%d briefs)", head.generation, head.build,
                 head.documents)
        return head

    def _scan(
        self, kind: Collection, expression: str, fields: list[str], dimension: int = 0, batch_size: int = 100
    ) -> list[dict[str, Any]]:
        """Every row matching `expression`, read in batches (a query alone returns at most 16,384 rows)."""

        def read(client: MilvusClient) -> list[dict[str, Any]]:
            name = self._ensure(client, kind, dimension)
            found: list[dict[str, Any]] = []
            iterator = client.query_iterator(
                name, batch_size=batch_size, filter=expression, output_fields=fields, timeout=self.write_timeout
            )
            try:
                while batch := iterator.next():
                    found.extend(batch)
            finally:
                iterator.close()
            return found

        return self._call("read", read)

    # ------------------------------------------------------------------ operations

    def unreachable(self) -> str | None:
        try:
            # one attempt: a readiness probe must answer within its own timeout
            self._call("ping", lambda c: c.list_collections(timeout=self.timeout), attempts=1)
        except SearchBackendUnavailableError:
            return "the search backend (Milvus) is unreachable"
        if self.refused is not None:  # it answers, but the last question's calls were refused
            return self.refused
        return None

    def count(self, kind: PieceKind) -> int:
        """Rows of one collection (tests and benchmarks)."""

        def rows(client: MilvusClient) -> int:
            name = self.collection(kind)
            if not client.has_collection(name, timeout=self.timeout):
                return 0
            found = client.query(name, filter="", output_fields=["count(*)"], timeout=self.timeout)
            return int(found[0]["count(*)"])

        return self._call("read", rows)

    def drop(self) -> None:
        """Delete this prefix's collections (tests and benchmarks start from nothing)."""

        def drop_all(client: MilvusClient) -> None:
            for kind in COLLECTIONS:
                name = self.collection(kind)
                if client.has_collection(name, timeout=self.timeout):
                    client.drop_collection(name, timeout=self.timeout)

        self._call("delete", drop_all)
        self._ready.clear()

    def close(self) -> None:
        self._forget_client()


def _marker(doc_id: str, version: str, rows: int, complete: bool) -> dict[str, Any]:
    return {
        "id": row_id("version", doc_id, version, 0), "doc_id": doc_id, "version": version, "rows": rows,
        "complete": complete, "vector": MARKER_VECTOR,
    }


HEAD_ID = row_id("build", "", HEAD, 0)


TRANSPORT_WORDS = ("unavailable", "deadline", "timeout", "timed out", "connect", "connection", "goaway", "socket")


def _transport_error(exc: Exception) -> bool:
    """A failure of the connection rather than of the call (gRPC's own errors, an unreachable server, a
    timeout): never a refusal, even when Milvus answers the ping right after (it may just have come back)."""
    if isinstance(exc, grpc.RpcError | OSError | TimeoutError | MilvusUnavailableException):
        return True
    return any(word in str(exc).lower() for word in TRANSPORT_WORDS)


def _cause(exc: Exception) -> str:
    """Milvus's own message for a refused call, without the address it was sent to (logged, never answered)."""
    message = getattr(exc, "message", None) or str(exc)
    return str(message).splitlines()[0][:300]


def text_parts(text: str, limit: int = TEXT_PART_BYTES) -> list[str]:
    """A text cut into consecutive pieces of at most `limit` UTF-8 bytes each, on character boundaries (a
    Milvus VARCHAR holds 64 KB; a long brief needs several rows). Joined, they are the text exactly."""
    parts: list[str] = []
    while text or not parts:
        part = clip_bytes(text, limit)
        parts.append(part)
        text = text[len(part) :]
    return parts


def _document_rows(document: Document, version: str) -> list[dict[str, Any]]:
    """The text's parts; the first also holds the metadata and how many parts there are (a reader that finds
    fewer is reading a version being deleted)."""
    bodies = text_parts(document.text)
    meta = {k: v for k, v in asdict(document.meta).items() if v is not None}
    head = json.dumps({"meta": meta, "parts": len(bodies)})
    return [
        {
            "id": row_id("document", document.doc_id, version, part), "doc_id": document.doc_id, "version": version,
            "part": part, "body": body, "meta": head if part == 0 else "", "vector": MARKER_VECTOR,
        }
        for part, body in enumerate(bodies)
    ]


def _listing_parts(pairs: list[tuple[str, str]]) -> list[str]:
    """JSON arrays of (doc_id, version) pairs, each at most TEXT_PART_BYTES long, in order."""
    bodies: list[str] = []
    chunk: list[tuple[str, str]] = []
    size = 2
    for pair in pairs:
        length = len(json.dumps(pair).encode()) + 2
        if chunk and size + length > TEXT_PART_BYTES:
            bodies.append(json.dumps(chunk))
            chunk, size = [], 2
        chunk.append(pair)
        size += length
    bodies.append(json.dumps(chunk))
    return bodies


def _build_row(version: str, part: int, body: str) -> dict[str, Any]:
    key = part if version != HEAD else 0
    return {"id": row_id("build", "", version, key), "doc_id": "", "version": version, "part": part, "body": body,
            "vector": MARKER_VECTOR}


def _versioned_schema(client: MilvusClient) -> Any:
    """The fields every collection starts with: the deterministic id, the brief and its version."""
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=128)
    schema.add_field("version", DataType.VARCHAR, max_length=128)
    return schema


def _documents_of(bundle: IndexBundle, allowed: RowFilter, kind: PieceKind) -> list[str]:
    """The briefs whose rows a filter allows (when it came without the filter it was made from)."""
    rows = allowed.rows(kind)
    if kind == "sentence":
        positions = np.unique(bundle.sentence_document[rows])
        ids = list(bundle.documents)
        return [ids[int(p)] for p in positions]
    return sorted({bundle.passages[int(r)].doc_id for r in rows})


def _rows_of(bundle: IndexBundle, kind: PieceKind, hits: list[Any], allowed: RowFilter | None) -> RowArray:
    """Hits as rows of the loaded build; a hit of a version the build does not hold is dropped."""
    out: list[int] = []
    held = bundle.documents
    identity = made_with(bundle)
    versions: dict[str, str] = {}  # of the briefs hit, each computed once
    for hit in hits:
        entity = hit["entity"]
        doc_id = entity["doc_id"]
        parsed = held.get(doc_id)
        if parsed is None:
            continue
        if doc_id not in versions:
            versions[doc_id] = piece_version(parsed, identity)
        if versions[doc_id] != entity["version"]:
            continue
        span = bundle.doc_rows[doc_id]
        start, end = (span.sentence_start, span.sentence_end) if kind == "sentence" else (
            span.passage_start, span.passage_end
        )
        piece = int(entity["piece"])
        if 0 <= piece < end - start:  # a row of this very version always is; anything else is not trusted
            out.append(start + piece)
    rows = np.unique(np.asarray(out, dtype=np.int64))
    if allowed is not None:  # the filter's own rows are the authority (a brief whose metadata changed since)
        rows = rows[np.isin(rows, allowed.rows(kind))]
    return rows


def _piece_rows(
    kind: PieceKind,
    parsed: ParsedDocument,
    version: str,
    pieces: list[tuple[int, int, int, str, str]],
    vectors: np.ndarray[Any, np.dtype[np.float32]],
) -> list[dict[str, Any]]:
    meta = parsed.document.meta
    doc_id = parsed.document.doc_id
    source = clip_bytes((meta.source or "").casefold(), 512)
    return [
        {
            "id": row_id(kind, doc_id, version, piece), "doc_id": doc_id, "version": version, "piece": piece,
            "start": start, "end": end, "section": clip_bytes(section, 1024), "source": source,
            "published": meta.published or "", "terms": bm25_terms(text), "vector": vector.tolist(),
        }
        for (piece, start, end, section, text), vector in zip(pieces, vectors, strict=True)
    ]


def _batches(items: list[T], size: int) -> Iterator[list[T]]:
    for at in range(0, len(items), size):
        yield items[at : at + size]
