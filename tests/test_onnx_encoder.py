"""The ONNX Runtime query encoder against the sentence-transformers reference, on the session index's own graphs.

The fp32 graph must give the reference's vectors (so serving with it retrieves exactly what the index was
built for), the int8 graph close ones, and a serving process must never import torch. The graphs and the
tokenizer come from the session index's build folder, opened the way the service opens them; anything that
damages files works on a copy of that index.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from app.config import PROJECT_ROOT, Settings
from app.embed.onnx import MAX_SEQUENCE_LENGTH, SMALL_BATCH, OnnxEncoder
from app.embed.reference import MODEL_NAME, Embedder, Vectors
from app.errors import IndexCorruptError
from app.index.encoders import Encoders
from app.index.lifecycle import load_or_build_index, stale_reason
from app.index.store import encoder_files, load_bundle, read_manifest
from app.models import Answer
from app.service import QAService
from tests.support import copy_index, flip_byte

DATA = Path(__file__).parent / "data"
PARITY = 0.9999  # fp32 graph vs the reference, per text
INT8_FLOOR = 0.95  # int8 graph vs the reference, per article sentence
QUESTION = "Who led Pakistan's delegation in Istanbul?"


def questions(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def load_variant(settings: Settings, service: QAService, variant: str) -> OnnxEncoder:
    graph, tokenizer = encoder_files(settings.index_dir, service.index.manifest, variant)
    return OnnxEncoder.load(graph, tokenizer, variant)


def cosines(a: Vectors, b: Vectors) -> Vectors:
    """Row-wise cosine similarity of two (n, d) matrices."""
    dots = np.sum(a * b, axis=1)
    result: Vectors = dots / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return result


def assert_parity(onnx: Vectors, reference: Vectors, texts: list[str], floor: float = PARITY) -> None:
    assert onnx.shape == reference.shape == (len(texts), reference.shape[1])
    scores = cosines(onnx, reference)
    worst = int(np.argmin(scores))
    assert scores[worst] >= floor, f"min cosine {scores[worst]:.6f} < {floor} for {texts[worst]!r}"


@pytest.fixture(scope="module")
def fp32(settings: Settings, service: QAService) -> OnnxEncoder:
    return load_variant(settings, service, "onnx")


@pytest.fixture(scope="module")
def int8(settings: Settings, service: QAService) -> OnnxEncoder:
    return load_variant(settings, service, "onnx-int8")


@pytest.fixture(scope="module")
def sentence_texts(service: QAService) -> list[str]:
    return [s.text for s in service.bundle.sentences]


@pytest.fixture(scope="module")
def untruncated(fp32: OnnxEncoder) -> Tokenizer:
    """The same vocabulary with no truncation and no padding, to count a text's real tokens."""
    tokenizer = Tokenizer.from_str(fp32.tokenizer.to_str())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def text_of_length(texts: list[str], tokenizer: Tokenizer, more_than: int) -> str:
    """Consecutive article sentences joined until the text holds more than `more_than` tokens."""
    joined = ""
    for text in texts:
        joined = f"{joined} {text}".strip()
        if len(tokenizer.encode(joined).ids) > more_than:
            return joined
    raise AssertionError(f"the article is shorter than {more_than} tokens")


def prefix_of(text: str, tokenizer: Tokenizer, tokens: int) -> str:
    """The text cut after its first `tokens` word pieces (special tokens excluded)."""
    offsets = tokenizer.encode(text).offsets  # [CLS] piece... [SEP]
    return text[: offsets[tokens][1]]


# --- parity with sentence-transformers ----------------------------------------------------------------------


def test_the_served_encoder_is_the_int8_graph_by_default(service: QAService, settings: Settings) -> None:
    assert settings.encoder == "onnx-int8"
    assert isinstance(service.embedder, OnnxEncoder) and service.embedder.variant == "onnx-int8"
    assert service.embedder.name == MODEL_NAME == service.index.manifest.model_name


def test_fp32_matches_the_reference_on_every_sentence_and_passage(
    fp32: OnnxEncoder, embedder: Embedder, service: QAService, sentence_texts: list[str]
) -> None:
    passage_texts = [p.text for p in service.bundle.passages]
    assert fp32.dimension == embedder.dimension == service.index.manifest.dimension
    assert_parity(fp32.embed_documents(sentence_texts), embedder.embed_documents(sentence_texts), sentence_texts)
    assert_parity(fp32.embed_documents(passage_texts), embedder.embed_documents(passage_texts), passage_texts)


def test_fp32_matches_the_reference_on_every_dev_and_gold_question(fp32: OnnxEncoder, embedder: Embedder) -> None:
    texts = questions("dev.jsonl") + questions("gold.jsonl")
    assert len(texts) > 80
    assert_parity(fp32.embed_documents(texts), embedder.embed_documents(texts), texts)
    singles = np.stack([fp32.embed_query(q) for q in texts])
    assert_parity(singles, embedder.embed_documents(texts), texts)


def test_batches_keep_input_order_and_equal_single_queries(fp32: OnnxEncoder, sentence_texts: list[str]) -> None:
    # longest first, shortest last, then mixed: the encoder sorts by length internally and must undo it
    by_length = sorted(sentence_texts[:40], key=len, reverse=True)
    texts = by_length[::2] + by_length[1::2]
    assert texts != sorted(texts, key=len)
    batched = fp32.embed_documents(texts, batch_size=8)
    singles = np.stack([fp32.embed_query(t) for t in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-6)
    # each row is its own text's vector and no other (distinct texts are not near-duplicates)
    nearest = np.argmax(batched @ singles.T, axis=1)
    assert nearest.tolist() == list(range(len(texts)))


def test_empty_batch_gives_an_empty_matrix(fp32: OnnxEncoder) -> None:
    assert fp32.embed_documents([]).shape == (0, fp32.dimension)
    vectors, tokens = fp32.embed_with_tokens([])
    assert vectors.shape == (0, fp32.dimension) and tokens == []


# --- token vectors (late interaction) -----------------------------------------------------------------------


def test_token_vectors_match_the_reference_piece_by_piece(
    fp32: OnnxEncoder, int8: OnnxEncoder, embedder: Embedder, sentence_texts: list[str]
) -> None:
    """The graph's second output is the reference's last hidden state: the same content pieces, each with the
    reference's vector (fp32 to parity, int8 close), batched or not, and the pooled vector of the same run."""
    texts = [*sentence_texts[:30], QUESTION, "Who mediated?", "Yes."]
    reference_vectors, reference_tokens = embedder.embed_with_tokens(texts)
    for encoder, floor in ((fp32, PARITY), (int8, INT8_FLOOR)):
        for batch_size in (1, 8):
            vectors, tokens = encoder.embed_with_tokens(texts, batch_size=batch_size)
            assert_parity(vectors, reference_vectors, texts, floor)
            for text, ours, theirs in zip(texts, tokens, reference_tokens, strict=True):
                assert ours.ids.tolist() == theirs.ids.tolist(), text
                if len(ours.ids):
                    assert_parity(ours.vectors, theirs.vectors, [text] * len(ours.ids), floor - 0.02)
    pieces = fp32.tokenizer.decode(fp32.embed_with_tokens([QUESTION])[1][0].ids.tolist()).split()
    assert pieces == ["led", "pakistan", "s", "delegation", "istanbul"]  # no function word, punctuation, special
    assert len(fp32.embed_with_tokens(["Yes."])[1][0].ids) == 1 and not len(fp32.embed_with_tokens(["?"])[1][0].ids)


# --- long inputs: truncation at 256, padding to the longest of a batch ---------------------------------------


def test_text_between_128_and_256_tokens_is_embedded_whole(
    fp32: OnnxEncoder, embedder: Embedder, untruncated: Tokenizer, sentence_texts: list[str]
) -> None:
    text = text_of_length(sentence_texts, untruncated, more_than=150)
    length = len(untruncated.encode(text).ids)
    assert 150 < length < MAX_SEQUENCE_LENGTH == embedder.model.max_seq_length
    assert len(fp32.tokenizer.encode(text).ids) == length  # neither truncated nor padded
    reference = embedder.embed_query(text)
    assert_parity(fp32.embed_query(text)[None], reference[None], [text])
    # the tail after token 128 moves the vector: a 128-token truncation could not pass the check above
    cut = embedder.embed_query(prefix_of(text, untruncated, 126))
    assert float(cut @ reference) < PARITY


def test_text_over_256_tokens_is_truncated_like_the_reference(
    fp32: OnnxEncoder, embedder: Embedder, untruncated: Tokenizer, sentence_texts: list[str]
) -> None:
    text = text_of_length(sentence_texts, untruncated, more_than=320)
    assert len(fp32.tokenizer.encode(text).ids) == MAX_SEQUENCE_LENGTH
    vector = fp32.embed_query(text)
    assert_parity(vector[None], embedder.embed_query(text)[None], [text])
    # what lies past token 256 is ignored: the text cut there ([CLS] + 254 pieces + [SEP]) embeds the same
    prefix = prefix_of(text, untruncated, MAX_SEQUENCE_LENGTH - 2)
    np.testing.assert_allclose(fp32.embed_query(prefix), vector, atol=1e-5)


def test_tokenizer_pads_to_the_longest_text_of_the_batch(
    fp32: OnnxEncoder, untruncated: Tokenizer, sentence_texts: list[str]
) -> None:
    short, medium = "Who mediated?", text_of_length(sentence_texts, untruncated, more_than=150)
    real = [len(untruncated.encode(t).ids) for t in (short, medium)]
    encodings = fp32.tokenizer.encode_batch([short, medium])
    assert [len(e.ids) for e in encodings] == [real[1], real[1]]  # not 128, not 256
    assert [sum(e.attention_mask) for e in encodings] == real
    assert len(fp32.tokenizer.encode(short).ids) == real[0]  # a lone text is not padded at all


def test_a_few_texts_get_exactly_the_features_encode_batch_gives(
    fp32: OnnxEncoder, untruncated: Tokenizer, sentence_texts: list[str]
) -> None:
    """Up to SMALL_BATCH texts skip the tokenizer's thread pool and are padded here: the same arrays either way."""
    long_text = text_of_length(sentence_texts, untruncated, more_than=320)  # truncated at 256
    for texts in (["Who mediated?"], ["Who mediated?", long_text, "talks"], sentence_texts[:SMALL_BATCH]):
        assert len(texts) <= SMALL_BATCH
        encodings = fp32.tokenizer.encode_batch(texts)
        small = fp32._features(fp32._encodings(texts))
        assert small["input_ids"].tolist() == [e.ids for e in encodings]
        assert small["attention_mask"].tolist() == [e.attention_mask for e in encodings]
        assert small["token_type_ids"].tolist() == [e.type_ids for e in encodings]
    many = sentence_texts[: SMALL_BATCH + 1]
    np.testing.assert_allclose(
        fp32.embed_documents(many), np.stack([fp32.embed_query(t) for t in many]), atol=1e-6
    )


# --- the int8 graph ------------------------------------------------------------------------------------------


def test_int8_stays_close_to_the_reference_on_every_sentence(
    int8: OnnxEncoder, embedder: Embedder, sentence_texts: list[str]
) -> None:
    assert int8.variant == "onnx-int8"
    assert_parity(
        int8.embed_documents(sentence_texts), embedder.embed_documents(sentence_texts), sentence_texts, INT8_FLOOR
    )


def test_an_int8_vector_does_not_depend_on_the_texts_embedded_beside_it(
    int8: OnnxEncoder, sentence_texts: list[str]
) -> None:
    """Dynamic quantization scales activations per batch: the encoder runs the int8 graph one text at a time so
    that a question gets the same vector (and answer) from the CLI's batches as from a single API call."""
    question = "What did Pakistan demand?"
    beside = [question, max(sentence_texts, key=len), "Who mediated?"]
    np.testing.assert_array_equal(int8.embed_documents(beside)[0], int8.embed_query(question))
    # and the rule is needed: the same three run as one padded batch give the question another vector
    batched = np.asarray(int8.session.run(None, int8._features(int8._encodings(beside)))[0], dtype=np.float32)[0]
    assert not np.array_equal(batched, int8.embed_query(question))


# --- same retrieval ------------------------------------------------------------------------------------------


def cited(answer: Answer) -> tuple[bool, list[tuple[str, int, int]], tuple[str, int, int] | None]:
    """What a reader sees of an answer: answered or not, the top passages, the first quote (offsets only)."""
    passages = [(p.doc_id, p.start, p.end) for p in answer.passages]
    first = answer.quotes[0] if answer.quotes else None
    return answer.answered, passages, (first.doc_id, first.start, first.end) if first else None


def test_onnx_and_reference_services_cite_the_same_passages_and_quotes(
    fp32: OnnxEncoder, embedder: Embedder, service: QAService, settings: Settings
) -> None:
    asked = questions("dev.jsonl")
    onnx = QAService(settings, service.encoders, fp32, service.index, service.prompts).ask_many(asked, top_k=3)
    reference = QAService(settings, service.encoders, embedder, service.index, service.prompts).ask_many(asked, top_k=3)
    assert sum(a.answered for a in reference) > len(asked) // 2  # the comparison covers real answers
    for question, ours, theirs in zip(asked, onnx, reference, strict=True):
        assert len(theirs.passages) == 3
        assert cited(ours) == cited(theirs), question


# --- the serving path never imports torch ----------------------------------------------------------------------

REPORT_MODULES = (
    "import json, sys; "
    "print(json.dumps({m: m in sys.modules for m in ('torch', 'sentence_transformers', 'onnxruntime')}))"
)


def run_python(code: str, settings: Settings) -> list[str]:
    """Run code in a fresh interpreter serving the session's index; its stdout lines."""
    env = {
        **os.environ,
        "NEWSQA_INDEX_DIR": str(settings.index_dir),
        "NEWSQA_CORPUS_DIR": str(settings.corpus_dir),
        "NEWSQA_ENCODER": settings.encoder,
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_service_load_and_ask_never_import_torch(settings: Settings, service: QAService) -> None:
    code = (
        "from app.config import get_settings\n"
        "from app.service import QAService\n"
        "service = QAService.load(get_settings())\n"
        f"answer = service.ask({QUESTION!r})\n"
        "print(service.index.rebuilt, answer.answered, answer.quotes[0].text if answer.quotes else '')\n"
        f"{REPORT_MODULES}\n"
    )
    *_, asked, modules = run_python(code, settings)
    assert asked == f"False True {service.ask(QUESTION).quotes[0].text}"
    assert json.loads(modules) == {"torch": False, "sentence_transformers": False, "onnxruntime": True}


def test_cli_ask_never_imports_torch(settings: Settings, service: QAService) -> None:
    code = (
        "import sys\n"
        "from app.cli import main\n"
        f"sys.argv = ['newsqa', 'ask', '--json', {QUESTION!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"{REPORT_MODULES}\n"
    )
    *_, body, modules = run_python(code, settings)
    assert json.loads(body)["answered"] is True
    assert json.loads(modules) == {"torch": False, "sentence_transformers": False, "onnxruntime": True}


# --- stale and corrupt encoders ----------------------------------------------------------------------------------


def test_manifest_without_the_configured_encoder_is_stale(service: QAService, settings: Settings) -> None:
    manifest = service.index.manifest
    assert set(manifest.encoders) == {"onnx", "onnx-int8"}
    assert stale_reason(manifest, settings) == ""
    only_fp32 = manifest.model_copy(update={"encoders": {"onnx": manifest.encoders["onnx"]}})
    assert settings.encoder == "onnx-int8"
    assert stale_reason(only_fp32, settings) == "the index holds no onnx-int8 encoder"
    only_int8 = manifest.model_copy(update={"encoders": {"onnx-int8": manifest.encoders["onnx-int8"]}})
    fp32 = settings.model_copy(update={"encoder": "onnx"})
    assert stale_reason(only_int8, fp32) == "the index holds no onnx encoder"
    reference = settings.model_copy(update={"encoder": "sentence-transformers"})
    assert stale_reason(only_int8, reference) == ""  # the reference model needs no graph
    with pytest.raises(IndexCorruptError, match="holds no onnx encoder"):
        encoder_files(settings.index_dir, only_int8, "onnx")


@pytest.fixture
def index_copy(settings: Settings, service: QAService, tmp_path: Path) -> Path:
    """This test's own copy of the session index (tests damage it; see copy_index for why that is safe)."""
    copy = tmp_path / "index"
    copy_index(settings.index_dir, copy)
    assert read_manifest(copy) == service.index.manifest
    return copy


def test_bit_flipped_fp32_graph_is_refused(index_copy: Path, service: QAService) -> None:
    manifest = service.index.manifest
    flip_byte(index_copy / manifest.build_dir / manifest.encoders["onnx"])
    with pytest.raises(IndexCorruptError, match=re.escape(f"{manifest.build_dir}/encoder.onnx is truncated")):
        encoder_files(index_copy, manifest, "onnx")
    graph, _ = encoder_files(index_copy, manifest, "onnx-int8")  # the other variant still verifies
    assert graph.name == manifest.encoders["onnx-int8"]


def test_bundle_loads_without_hashing_the_graphs(index_copy: Path, service: QAService, settings: Settings) -> None:
    manifest = service.index.manifest
    flip_byte(index_copy / manifest.build_dir / manifest.encoders["onnx-int8"])
    loaded = load_bundle(index_copy, manifest, MODEL_NAME)
    assert loaded.passages == service.bundle.passages
    with pytest.raises(IndexCorruptError, match=re.escape(f"{manifest.build_dir}/encoder.int8.onnx is truncated")):
        encoder_files(index_copy, manifest, "onnx-int8")
    graph, tokenizer = encoder_files(index_copy, manifest, "onnx")
    assert (graph.name, tokenizer.name) == ("encoder.onnx", "tokenizer.json")


def test_damaged_tokenizer_fails_every_variant(index_copy: Path, service: QAService) -> None:
    manifest = service.index.manifest
    flip_byte(index_copy / manifest.build_dir / "tokenizer.json")
    for variant in ("onnx", "onnx-int8"):
        with pytest.raises(IndexCorruptError, match=re.escape(f"{manifest.build_dir}/tokenizer.json is truncated")):
            encoder_files(index_copy, manifest, variant)


# --- threads ---------------------------------------------------------------------------------------------------


def test_configured_thread_count_reaches_the_session(service: QAService, settings: Settings) -> None:
    def no_reference(_settings: Settings) -> Embedder:
        raise AssertionError("an ONNX encoder must not load the reference model")

    for variant, threads in (("onnx", 3), ("onnx-int8", 2)):
        configured = settings.model_copy(update={"encoder": variant, "encoder_threads": threads})
        encoder = Encoders(load_reference=no_reference).for_queries(configured, service.index.manifest)
        assert isinstance(encoder, OnnxEncoder) and encoder.variant == variant
        options = encoder.session.get_session_options()
        assert (options.intra_op_num_threads, options.inter_op_num_threads) == (threads, 1)


def test_default_thread_counts_are_the_faster_ones_per_graph(service: QAService, settings: Settings) -> None:
    """Unset, the int8 graph gets 1 intra-op thread and fp32 2 (see Settings.onnx_threads for the timings)."""
    assert settings.encoder_threads is None
    expected = {"onnx-int8": 1, "onnx": min(2, os.cpu_count() or 1)}
    for variant, threads in expected.items():
        configured = settings.model_copy(update={"encoder": variant})
        no_reference = Encoders(load_reference=lambda _settings: pytest.fail("no reference model for ONNX"))
        encoder = no_reference.for_queries(configured, service.index.manifest)
        assert isinstance(encoder, OnnxEncoder)
        assert encoder.session.get_session_options().intra_op_num_threads == threads


def test_a_damaged_graph_of_the_configured_encoder_triggers_a_rebuild(
    index_copy: Path, service: QAService, settings: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = service.index.manifest
    damaged = manifest.encoders[settings.encoder]
    flip_byte(index_copy / manifest.build_dir / damaged)
    copied = settings.model_copy(update={"index_dir": index_copy})
    with caplog.at_level("WARNING", logger="newsqa.index"):
        loaded = load_or_build_index(copied, Encoders(embedder))
    assert loaded.rebuilt
    assert f"{damaged} is truncated or corrupt" in caplog.text
    assert loaded.encoder_files is not None and loaded.encoder_files[0].parent.name == loaded.manifest.build_dir


# --- the export's warnings (app/embed/export.py silences exactly these, at the calls that raise them) -----------


def test_the_export_warnings_are_benign_for_untraced_shapes(
    fp32: OnnxEncoder, embedder: Embedder, sentence_texts: list[str], untruncated: Tokenizer
) -> None:
    """The trace saw one 2 x 8 batch without padding; the two trace warnings would bite on other shapes or on
    padded rows if they were real. Batches of 1, 3 and 17, texts of 1 to 256 tokens, short rows padded."""
    long_text = text_of_length(sentence_texts, untruncated, more_than=320)  # truncated at 256
    texts = ["Pakistan", "Who?", *sentence_texts[:14], long_text]
    for batch_size in (1, 3, 17):
        assert_parity(fp32.embed_documents(texts, batch_size=batch_size), embedder.embed_documents(texts), texts)


def test_an_export_raises_none_of_the_warnings_found_benign(
    embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import warnings

    from app.embed.export import BENIGN_QUANTIZATION_LOG, BENIGN_TRACE_WARNINGS, export_encoders

    with warnings.catch_warnings(record=True) as raised, caplog.at_level("WARNING"):
        warnings.simplefilter("always")
        files = export_encoders(embedder, tmp_path)
    assert all((tmp_path / name).stat().st_size > 0 for name in files.values())
    messages = [str(w.message) for w in raised]
    for message, _module in BENIGN_TRACE_WARNINGS:
        assert not [m for m in messages if message in m]
    assert not [r for r in caplog.records if r.getMessage().startswith(BENIGN_QUANTIZATION_LOG)]
    assert logging_filters_restored()


def logging_filters_restored() -> bool:
    import logging

    return not logging.getLogger().filters
