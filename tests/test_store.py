"""index/ on disk: round trip, stale and corrupt indexes rebuilt, a changed corpus folder brought up to date
incrementally, crashes mid-save leave the old build serving.

Extra indexes are built on a two-document corpus with the session's real model: built once per module, and
each test works on its own copy of the corpus and index folders, so only the rebuilds a test is about happen.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.config import Settings
from app.embed.reference import Embedder
from app.errors import IndexCorruptError
from app.files import write_bytes_atomic
from app.index.encoders import Encoders
from app.index.lexical import LexicalIndex
from app.index.lifecycle import LoadedIndex, load_or_build_index, stale_reason
from app.index.store import LOCK, MANIFEST, load_bundle, read_manifest, save_bundle
from app.ingest.blocks import document_version
from app.ingest.corpus import read_corpus
from app.models import Answer
from app.prompts import Prompts
from app.service import QAService
from app.text.normalize import terms
from tests.support import copy_folders, flip_byte, rewrite, same_vectors, settings_in

FLOOD = """River Flood Closes Valley Roads
Heavy rain on Tuesday pushed the Arno river over its banks. Officials closed three roads near Florence.
Relief Effort
The mayor said volunteers handed out 400 sandbags:
- sandbags at the town hall
- blankets at the school gym
Also Read: Last year's drought
Engineers expect the water to fall by Friday.
"""
MARKET = """Tea Prices Climb at the Colombo Auction
Tea prices rose 12 percent at the weekly Colombo auction. Brokers blamed dry weather in the hills.
Exporters said buyers from Dubai paid the highest bids.
"""
FLOOD_QUESTION = "When is the water expected to fall?"
FERRY = """Harbour Ferry Returns
The ferry to Brindle Island resumed sailings on Monday after a two-week strike by its crew ended.
"""
FERRY_QUESTION = "When did the ferry to Brindle Island resume sailings?"
LOGGER = "newsqa.index"  # the index lifecycle (app/index/lifecycle.py)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A two-document corpus and its freshly built index."""
    root = tmp_path_factory.mktemp("tiny")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "flood.txt").write_text(FLOOD, encoding="utf-8")
    (corpus / "market.md").write_text(MARKET, encoding="utf-8")
    assert load_or_build_index(settings_in(root), Encoders(embedder)).rebuilt
    return root


@pytest.fixture
def tiny(pristine: Path, tmp_path: Path) -> Settings:
    """This test's own copy of the pristine corpus and index."""
    return settings_in(copy_folders(pristine, tmp_path))


@pytest.fixture
def built(tiny: Settings, embedder: Embedder) -> LoadedIndex:
    loaded = load_or_build_index(tiny, Encoders(embedder))
    assert not loaded.rebuilt  # the copied index matches its copied corpus
    return loaded


def corpus_of(settings: Settings) -> dict[str, str]:
    """doc_id → version (content hash and metadata hash) as the service reads the corpus folder."""
    return {d.doc_id: document_version(d) for d in read_corpus(settings.corpus_dir)}


def build_dirs(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.is_dir())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_file(settings: Settings, name: str) -> Path:
    manifest = read_manifest(settings.index_dir)
    assert manifest is not None
    return settings.index_dir / manifest.build_dir / name


def reload(settings: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture) -> LoadedIndex:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        return load_or_build_index(settings, Encoders(embedder))


def rebuild_reason(caplog: pytest.LogCaptureFixture) -> str:
    return " | ".join(r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING)


def answers_from(loaded: LoadedIndex, service: QAService, questions: list[str]) -> list[Answer]:
    other = QAService(service.settings, service.encoders, service.embedder, loaded, service.prompts)
    return list(other.ask_many(questions))


# --- round trip ----------------------------------------------------------------------------------------------


def test_round_trip_gives_identical_tables_vectors_and_answers(service: QAService, tmp_path: Path) -> None:
    original = service.bundle
    corpus = corpus_of(service.settings)
    manifest = save_bundle(original, tmp_path, corpus, service.settings.hnsw_threshold)
    assert read_manifest(tmp_path) == manifest
    loaded = load_bundle(tmp_path, manifest, original.model_name)  # self-contained: the build holds the texts

    assert loaded.documents == original.documents
    assert loaded.sentences == original.sentences and loaded.passages == original.passages
    assert np.array_equal(loaded.sentence_matrix, original.sentence_matrix)
    assert np.array_equal(loaded.passage_matrix, original.passage_matrix)
    assert loaded.lexicon == original.lexicon
    assert np.array_equal(loaded.lexicon_matrix, original.lexicon_matrix)
    assert (loaded.vocabulary, loaded.acronyms) == (original.vocabulary, original.acronyms)
    query = terms("main sticking point negotiations")
    assert np.array_equal(loaded.passage_lexical.scores(query), original.passage_lexical.scores(query))
    assert np.array_equal(loaded.sentence_lexical.scores(query), original.sentence_lexical.scores(query))

    questions = ["What is the main sticking point in the negotiations?", "What is the capital of France?"]
    again = answers_from(LoadedIndex(loaded, manifest, rebuilt=False), service, questions)
    assert again == service.ask_many(questions)


def test_manifest_records_what_built_the_index(built: LoadedIndex, tiny: Settings, embedder: Embedder) -> None:
    manifest = built.manifest
    corpus = corpus_of(tiny)
    assert manifest.model_name == embedder.name
    assert manifest.dimension == embedder.dimension
    assert manifest.corpus == corpus
    assert manifest.counts == {
        "documents": 2,
        "sentences": len(built.bundle.sentences),
        "passages": len(built.bundle.passages),
    }
    assert manifest.vector_index == {"sentences": "flat", "passages": "flat"}
    build = tiny.index_dir / manifest.build_dir
    on_disk = {p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file()}
    assert set(manifest.files) == on_disk
    assert build_dirs(tiny.index_dir) == [manifest.build_dir]
    installed = {name: importlib.metadata.version(name) for name in ("bm25s", "faiss-cpu", "onnxruntime")}
    assert manifest.libraries == installed


def test_a_build_from_other_library_versions_is_rebuilt_one_from_before_they_were_recorded_loads(
    built: LoadedIndex, tiny: Settings
) -> None:
    other = built.manifest.model_copy(update={"libraries": {**built.manifest.libraries, "bm25s": "0.0.1"}})
    assert stale_reason(other, tiny).startswith("index was built with other library versions")
    assert stale_reason(built.manifest.model_copy(update={"libraries": {}}), tiny) == ""


def test_second_start_loads_instead_of_building(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    again = reload(tiny, embedder, caplog)
    assert not again.rebuilt
    assert again.manifest == built.manifest
    assert rebuild_reason(caplog) == ""
    assert again.bundle.passages == built.bundle.passages


def test_hnsw_build_round_trips(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    settings = tiny.model_copy(update={"hnsw_threshold": 2})
    first = reload(settings, embedder, caplog)
    assert first.rebuilt and "vector index threshold changed" in rebuild_reason(caplog)
    assert first.manifest.vector_index == {"sentences": "hnsw", "passages": "hnsw"}
    again = reload(settings, embedder, caplog)
    assert not again.rebuilt
    assert again.bundle.passage_vectors.kind == "hnsw"
    assert np.array_equal(again.bundle.passage_matrix, first.bundle.passage_matrix)


# --- stale indexes ---------------------------------------------------------------------------------------------


def assert_updated_incrementally(
    built: LoadedIndex, again: LoadedIndex, tiny: Settings, caplog: pytest.LogCaptureFixture, unchanged: str
) -> None:
    assert not again.rebuilt
    assert "the corpus changed since the index was built" in rebuild_reason(caplog)
    assert "building the index" not in rebuild_reason(caplog)
    assert same_vectors(built.bundle, again.bundle, unchanged)
    assert read_manifest(tiny.index_dir) == again.manifest
    assert again.manifest.corpus == corpus_of(tiny)
    assert build_dirs(tiny.index_dir) == [again.manifest.build_dir] != [built.manifest.build_dir]


def test_changed_corpus_file_is_updated_incrementally(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, service: QAService, caplog: pytest.LogCaptureFixture
) -> None:
    path = tiny.corpus_dir / "market.md"
    path.write_text(MARKET.replace("12 percent", "15 percent"), encoding="utf-8")
    again = reload(tiny, embedder, caplog)
    assert_updated_incrementally(built, again, tiny, caplog, unchanged="flood")
    assert not any("12 percent" in s.text for s in again.bundle.sentences)
    [answer] = answers_from(again, service, ["How much did tea prices rise at the Colombo auction?"])
    assert answer.answered
    assert answer.quotes[0].doc_id == "market" and "15 percent" in answer.quotes[0].text
    assert answer.quotes[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not reload(tiny, embedder, caplog).rebuilt and rebuild_reason(caplog) == ""  # now in step


def test_added_document_is_updated_incrementally(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, service: QAService, caplog: pytest.LogCaptureFixture
) -> None:
    (tiny.corpus_dir / "extra.txt").write_text(FERRY, encoding="utf-8")
    again = reload(tiny, embedder, caplog)
    assert_updated_incrementally(built, again, tiny, caplog, unchanged="flood")
    assert same_vectors(built.bundle, again.bundle, "market")
    assert set(again.bundle.documents) == {"flood", "market", "extra"}
    [answer] = answers_from(again, service, [FERRY_QUESTION])
    assert answer.answered
    assert answer.quotes[0].doc_id == "extra" and "Brindle Island" in answer.quotes[0].text


def test_a_new_snapshot_takes_over_the_vocabularies_of_unchanged_documents(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    """A server swaps in a new snapshot after every write (`QAService.index = ...`): the briefs the write left
    alone keep the vocabulary the last snapshot made for them (the first question on each would pay for it
    again); a changed brief, or a snapshot of another model, passes nothing on."""
    service = QAService(tiny, Encoders(embedder), embedder, built, Prompts.load(tiny.prompts_dir))
    flood_vocabulary = built.bundle.vocabulary_of("flood")
    market_vocabulary = built.bundle.vocabulary_of("market")
    (tiny.corpus_dir / "extra.txt").write_text(FERRY, encoding="utf-8")
    (tiny.corpus_dir / "market.md").write_text(
        (tiny.corpus_dir / "market.md").read_text(encoding="utf-8") + "\n\nTraders expect prices to settle.\n",
        encoding="utf-8",
    )
    service.index = reload(tiny, embedder, caplog)  # the setter every swap goes through
    after = service.index.bundle
    assert after.vocabulary_of("flood") is flood_vocabulary
    assert after.vocabulary_cache[after.documents["flood"].document.sha256] is flood_vocabulary
    assert after.vocabulary_of("market") is not market_vocabulary  # changed: its own, made afresh
    other = reload(tiny, embedder, caplog)
    other.bundle.model_name = "some/other-model"
    other.bundle.adopt_vocabularies(after)
    assert not other.bundle.vocabulary_cache


def test_removed_document_is_updated_incrementally(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, service: QAService, caplog: pytest.LogCaptureFixture
) -> None:
    (tiny.corpus_dir / "market.md").unlink()
    again = reload(tiny, embedder, caplog)
    assert_updated_incrementally(built, again, tiny, caplog, unchanged="flood")
    assert set(again.bundle.documents) == {"flood"}
    assert all(s.doc_id == "flood" for s in again.bundle.sentences)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("chunker_version", -1, "chunker version changed"),
        ("model_name", "some/other-model", "index was built by some/other-model"),
        ("format_version", 999, "index format changed"),
        ("hnsw_threshold", 7, "vector index threshold changed"),
    ],
)
def test_stale_reason_names_what_differs(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, field: str, value: object, reason: str
) -> None:
    other = built.manifest.model_copy(update={field: value})
    assert stale_reason(other, tiny) == reason


def test_a_different_corpus_is_not_a_stale_reason(built: LoadedIndex, tiny: Settings) -> None:
    # the corpus is reconciled incrementally by load_or_build_index, never by a full rebuild
    other = built.manifest.model_copy(update={"corpus": {"flood": "0" * 64}})
    assert stale_reason(other, tiny) == ""


def test_manifest_from_an_older_chunker_triggers_a_rebuild(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    path = tiny.index_dir / MANIFEST
    data = json.loads(path.read_text(encoding="utf-8"))
    data["chunker_version"] -= 1
    path.write_text(json.dumps(data), encoding="utf-8")
    again = reload(tiny, embedder, caplog)
    assert again.rebuilt and "chunker version changed" in rebuild_reason(caplog)
    assert again.manifest.chunker_version == built.manifest.chunker_version


def test_new_chunker_version_in_code_triggers_a_rebuild(
    built: LoadedIndex,
    tiny: Settings,
    embedder: Embedder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # service and store import the constant by name, so a new version is seen through both of them
    bumped = built.manifest.chunker_version + 1
    monkeypatch.setattr("app.index.lifecycle.CHUNKER_VERSION", bumped)
    monkeypatch.setattr("app.index.store.CHUNKER_VERSION", bumped)
    again = reload(tiny, embedder, caplog)
    assert again.rebuilt and "chunker version changed" in rebuild_reason(caplog)
    assert again.manifest.chunker_version == bumped
    assert not reload(tiny, embedder, caplog).rebuilt


def test_stale_reason_is_empty_for_a_matching_manifest(built: LoadedIndex, tiny: Settings, embedder: Embedder) -> None:
    assert stale_reason(built.manifest, tiny) == ""
    assert stale_reason(None, tiny) == "no index yet"


# --- corrupt indexes -------------------------------------------------------------------------------------------


def truncate(path: Path) -> None:
    rewrite(path, path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("name", "damage", "error"),
    [
        ("sentences.faiss", truncate, "sentences.faiss is truncated or corrupt"),
        ("passages.faiss", flip_byte, "passages.faiss is truncated or corrupt"),
        ("table.json", flip_byte, "table.json is truncated or corrupt"),
        ("lexicon.npy", truncate, "lexicon.npy is truncated or corrupt"),
        ("token_vectors.npy", flip_byte, "token_vectors.npy is truncated or corrupt"),
        ("token_offsets.npy", truncate, "token_offsets.npy is truncated or corrupt"),
        ("passages.bm25/vocab.index.json", flip_byte, "vocab.index.json is truncated or corrupt"),
        ("sentences.bm25/params.index.json", Path.unlink, "params.index.json is truncated or corrupt"),
        (".", shutil.rmtree, "is missing"),
    ],
)
def test_damaged_build_is_detected_on_load(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, name: str, damage: Callable[[Path], object], error: str
) -> None:
    damage(build_file(tiny, name))
    with pytest.raises(IndexCorruptError, match=error):
        load_bundle(tiny.index_dir, built.manifest, embedder.name)


def test_service_rebuilds_a_corrupt_index_and_says_why(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    truncate(build_file(tiny, "sentences.faiss"))
    again = reload(tiny, embedder, caplog)
    assert again.rebuilt
    assert "sentences.faiss is truncated or corrupt" in rebuild_reason(caplog)
    assert again.bundle.passages == built.bundle.passages
    assert np.array_equal(again.bundle.sentence_matrix, built.bundle.sentence_matrix)
    assert not reload(tiny, embedder, caplog).rebuilt  # the rebuilt index verifies


def test_unparseable_file_with_a_matching_hash_is_still_corrupt(
    built: LoadedIndex, tiny: Settings, embedder: Embedder
) -> None:
    # garbage that the manifest vouches for (e.g. a manifest edited by hand) must fail loading, not crash later
    path = build_file(tiny, "sentences.faiss")
    rewrite(path, b"not a faiss index")
    manifest = built.manifest.model_copy(update={"files": {**built.manifest.files, "sentences.faiss": sha256_of(path)}})
    with pytest.raises(IndexCorruptError, match="cannot be loaded"):
        load_bundle(tiny.index_dir, manifest, embedder.name)


def test_bit_flipped_document_text_inside_the_table_is_caught(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    # The build holds its own copy of each text. Flip one bit of it ("Tuesday" → "Tuesdax") and make the
    # manifest vouch for the damaged file (as a flip before hashing, or a hand-edited manifest, would): the
    # per-document sha256 recorded beside the text must still catch it, and the service rebuilds.
    path = build_file(tiny, "table.json")
    data = bytearray(path.read_bytes())
    at = data.index(b"Tuesday") + len("Tuesda")
    data[at] ^= 0x01
    rewrite(path, bytes(data))
    assert b"Tuesdax" in path.read_bytes()
    manifest = built.manifest.model_copy(update={"files": {**built.manifest.files, "table.json": sha256_of(path)}})
    write_bytes_atomic(tiny.index_dir / MANIFEST, manifest.model_dump_json(indent=2).encode("utf-8"))
    with pytest.raises(IndexCorruptError, match="document flood in the index does not match its hash"):
        load_bundle(tiny.index_dir, manifest, embedder.name)

    again = reload(tiny, embedder, caplog)
    assert again.rebuilt
    assert "does not match its hash" in rebuild_reason(caplog)
    assert "Tuesday" in again.bundle.documents["flood"].document.text
    assert not any("Tuesdax" in s.text for s in again.bundle.sentences)
    assert not reload(tiny, embedder, caplog).rebuilt  # the rebuilt index verifies


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe\x00garbage", b'{"format_version": 1}', b"[]"])
def test_garbage_manifest_reads_as_none(
    built: LoadedIndex, tiny: Settings, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    (tiny.index_dir / MANIFEST).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="newsqa.store"):
        assert read_manifest(tiny.index_dir) is None
    assert "unreadable" in caplog.text


def test_garbage_manifest_means_rebuild(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    (tiny.index_dir / MANIFEST).write_bytes(b"{not json")
    again = reload(tiny, embedder, caplog)
    assert again.rebuilt
    assert read_manifest(tiny.index_dir) == again.manifest
    assert build_dirs(tiny.index_dir) == [again.manifest.build_dir]


def test_manifest_pointing_outside_the_index_is_refused(built: LoadedIndex, tiny: Settings, embedder: Embedder) -> None:
    elsewhere = built.manifest.model_copy(update={"build_dir": "../corpus"})
    with pytest.raises(IndexCorruptError, match="missing"):
        load_bundle(tiny.index_dir, elsewhere, embedder.name)


# --- crashes while saving ----------------------------------------------------------------------------------------


def assert_previous_build_serves(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture, manifest_bytes: bytes
) -> None:
    assert (tiny.index_dir / MANIFEST).read_bytes() == manifest_bytes
    again = reload(tiny, embedder, caplog)
    assert not again.rebuilt, rebuild_reason(caplog)
    assert again.manifest == built.manifest
    assert again.bundle.passages == built.bundle.passages
    query = embedder.embed_query(FLOOD_QUESTION)
    [row] = again.bundle.sentence_vectors.search(query, 1).ids.tolist()
    assert again.bundle.sentences[row].text == "Engineers expect the water to fall by Friday."


def test_crash_while_writing_data_files_keeps_the_previous_build(
    built: LoadedIndex,
    tiny: Settings,
    embedder: Embedder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest_bytes = (tiny.index_dir / MANIFEST).read_bytes()
    real_save = LexicalIndex.save
    calls: list[Path] = []

    def save_then_crash(self: LexicalIndex, folder: Path) -> None:
        if calls:  # the vectors and the first BM25 index are already on disk
            raise OSError("disk full")
        calls.append(folder)
        real_save(self, folder)

    with monkeypatch.context() as patch:
        patch.setattr(LexicalIndex, "save", save_then_crash)
        with pytest.raises(OSError, match="disk full"):
            load_or_build_index(tiny, Encoders(embedder), force=True)
    assert calls and calls[0].parent.name.startswith(".staging-")
    assert build_dirs(tiny.index_dir) == [built.manifest.build_dir]  # the half-written staging folder is gone
    assert_previous_build_serves(built, tiny, embedder, caplog, manifest_bytes)


def test_crash_before_the_manifest_switch_keeps_the_previous_build(
    built: LoadedIndex,
    tiny: Settings,
    embedder: Embedder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest_bytes = (tiny.index_dir / MANIFEST).read_bytes()

    def crash(path: Path, data: bytes) -> None:
        raise OSError("power cut")

    with monkeypatch.context() as patch:
        patch.setattr("app.index.store.write_bytes_atomic", crash)
        with pytest.raises(OSError, match="power cut"):
            load_or_build_index(tiny, Encoders(embedder), force=True)
    orphans = [d for d in build_dirs(tiny.index_dir) if d != built.manifest.build_dir]
    assert len(orphans) == 1  # the complete new build sits there, but nothing names it: never loaded
    assert_previous_build_serves(built, tiny, embedder, caplog, manifest_bytes)


def test_leftovers_of_a_hard_crash_are_cleaned_by_the_next_save(
    built: LoadedIndex, tiny: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    # what a kill -9 mid-save leaves behind: a staging folder, an unnamed build, a manifest temp file
    index_dir = tiny.index_dir
    staging = index_dir / ".staging-k9x2"
    staging.mkdir()
    (staging / "sentences.faiss").write_bytes(b"partial")
    orphan = index_dir / "build-20000101T000000-deadbeef"
    orphan.mkdir()
    (orphan / "table.json").write_text("{}", encoding="utf-8")
    temp = index_dir / f".{MANIFEST}.abc123.tmp"
    temp.write_text('{"half": ', encoding="utf-8")
    unrelated = index_dir / "README.md"
    unrelated.write_text("keep me", encoding="utf-8")

    assert_previous_build_serves(built, tiny, embedder, caplog, (index_dir / MANIFEST).read_bytes())
    rebuilt = load_or_build_index(tiny, Encoders(embedder), force=True)
    expected = [MANIFEST, LOCK, rebuilt.manifest.build_dir, "README.md"]  # the writers' lock file stays, empty
    assert sorted(p.name for p in index_dir.iterdir()) == sorted(expected)


# --- atomic writes -----------------------------------------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_bytes_atomic_replaces_the_content(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    write_bytes_atomic(path, b"first")
    write_bytes_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert leftovers(tmp_path) == []


def test_write_bytes_atomic_failure_keeps_old_content_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.bin"
    write_bytes_atomic(path, b"old")
    with pytest.raises(TypeError):
        write_bytes_atomic(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old" and leftovers(tmp_path) == []

    def fail(*args: object) -> None:
        raise OSError("rename failed")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", fail)
        with pytest.raises(OSError, match="rename failed"):
            write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"old" and leftovers(tmp_path) == []
