"""Question → fused ranking of sentences and passages over the real model, FAISS and BM25 indexes."""

from __future__ import annotations

import numpy as np
import pytest

from app.embed.reference import Embedder
from app.index.bundle import IndexBundle
from app.models import Evidence, Passage, ScoredPassage
from app.retrieve.hybrid import RetrievalParams, diversify, question_view, retrieve
from app.retrieve.quote_ranker import _rank_feature, counted_vector, counts_the_thing
from app.service import QAService
from app.text.answer_type import offers
from app.text.normalize import terms

STICKING = "What is the main sticking point in the negotiations?"
CONDITIONS = "What conditions did the Taliban set for a long-term ceasefire?"
WHEN = "When was the ceasefire agreed?"
OFF_TOPIC = "What is the capital of France?"


@pytest.fixture(scope="module")
def bundle(service: QAService) -> IndexBundle:
    return service.bundle


def evidence_for(question: str, bundle: IndexBundle, embedder: Embedder) -> Evidence:
    return retrieve(question, embedder.embed_query(question), bundle, RetrievalParams())


def test_sticking_point_passage_ranks_first(bundle: IndexBundle, embedder: Embedder) -> None:
    evidence = evidence_for(STICKING, bundle, embedder)
    assert "main sticking point" in evidence.passages[0].passage.text
    assert "main sticking point" in evidence.sentences[0].sentence.text


def test_list_passage_ranks_first_for_the_conditions(bundle: IndexBundle, embedder: Embedder) -> None:
    top = evidence_for(CONDITIONS, bundle, embedder).passages[0].passage
    assert top.text.startswith("The Taliban reportedly set two conditions for a long-term ceasefire:")
    assert "Islamabad must not allow opposition groups" in top.text


def test_when_question_prefers_a_sentence_with_a_date(bundle: IndexBundle, embedder: Embedder) -> None:
    evidence = evidence_for(WHEN, bundle, embedder)
    assert offers(evidence.sentences[0].sentence.text, "when")
    assert any("October 15" in p.passage.text for p in evidence.passages[:3])


def test_sentences_are_best_first_and_every_passage_sentence_is_scored(bundle: IndexBundle, embedder: Embedder) -> None:
    for question in (STICKING, CONDITIONS, OFF_TOPIC):
        evidence = evidence_for(question, bundle, embedder)
        scores = [s.score for s in evidence.sentences]
        assert scores == sorted(scores, reverse=True)
        scored = {s.sentence.sentence_id for s in evidence.sentences}
        for ranked in evidence.passages:  # select_quotes relies on this
            assert set(ranked.passage.sentence_ids) <= scored
        ids = [p.passage.passage_id for p in evidence.passages]
        assert len(ids) == len(set(ids))


def test_top_passages_do_not_repeat_the_same_sentences(bundle: IndexBundle, embedder: Embedder) -> None:
    evidence = evidence_for(STICKING, bundle, embedder)
    top = [set(p.passage.sentence_ids) for p in evidence.passages[:3]]
    for i, first in enumerate(top):
        for second in top[i + 1 :]:
            assert len(first & second) <= RetrievalParams().max_shared_sentences


def test_signals_of_an_answerable_and_an_off_topic_question(bundle: IndexBundle, embedder: Embedder) -> None:
    good = evidence_for(STICKING, bundle, embedder).signals
    assert good.unknown_terms == () and good.unknown_proper_nouns == ()
    assert good.unknown_term_share == 0.0
    assert good.best_lexical_coverage == 1.0  # main, sticking, point, negotiations all in the top passage
    bad = evidence_for(OFF_TOPIC, bundle, embedder).signals
    assert bad.unknown_proper_nouns == ("France",)
    assert bad.unknown_term_share > 0
    assert bad.best_dense < good.best_dense


def test_acronym_in_the_question_reaches_the_long_form(bundle: IndexBundle, embedder: Embedder) -> None:
    evidence = evidence_for("What is the TTP?", bundle, embedder)
    assert any("Tehreek-e-Taliban Pakistan" in p.passage.text for p in evidence.passages[:3])


def passage(pid: int, *sentence_ids: int) -> ScoredPassage:
    return ScoredPassage(Passage(pid, "d", "s", 0, 1, "x", sentence_ids), score=1.0 - pid / 10)


def test_diversify_moves_near_duplicates_to_the_end() -> None:
    ranked = [passage(0, 1, 2, 3), passage(1, 2, 3, 4), passage(2, 3, 4, 5), passage(3, 7, 8, 9)]
    out = diversify(ranked, max_shared=1)
    assert [p.passage.passage_id for p in out] == [0, 2, 3, 1]  # 1 shares 2 sentences with 0; 2 shares only 3
    assert [p.passage.passage_id for p in diversify(ranked, max_shared=3)] == [0, 1, 2, 3]


def test_diversify_keeps_other_documents_apart() -> None:
    a = ScoredPassage(Passage(0, "a", "s", 0, 1, "x", (1, 2, 3)), 0.9)
    b = ScoredPassage(Passage(0, "b", "s", 0, 1, "x", (1, 2, 3)), 0.8)
    assert diversify([a, b], max_shared=1) == (a, b)


def test_sentences_in_gives_each_passage_its_own_sentence_rows(bundle: IndexBundle) -> None:
    row_of = {(s.doc_id, s.sentence_id): row for row, s in enumerate(bundle.sentences)}
    chosen = np.array([5, 0, len(bundle.passages) - 1, 5], dtype=np.int64)  # any order, repeats allowed
    flat, starts = bundle.sentences_in(chosen)
    ends = [*starts[1:].tolist(), len(flat)]
    for p, begin, end in zip(chosen.tolist(), starts.tolist(), ends, strict=True):
        passage = bundle.passages[p]
        assert flat[begin:end].tolist() == [row_of[(passage.doc_id, sid)] for sid in passage.sentence_ids]
    empty_flat, empty_starts = bundle.sentences_in(np.zeros(0, dtype=np.int64))
    assert len(empty_flat) == 0 and len(empty_starts) == 0


def test_evidence_is_bounded_but_keeps_every_sentence_of_its_passages(
    bundle: IndexBundle, embedder: Embedder
) -> None:
    """Only the best passages and sentences become objects; the passages' sentences are always among them."""
    params = RetrievalParams(ranked_passages=5, ranked_sentences=3)
    evidence = retrieve(STICKING, embedder.embed_query(STICKING), bundle, params)
    full = evidence_for(STICKING, bundle, embedder)
    assert len(evidence.passages) == 5 < len(full.passages)
    assert [p.passage for p in evidence.passages[:3]] == [p.passage for p in full.passages[:3]]
    scored = {s.sentence.sentence_id for s in evidence.sentences}
    assert {s.sentence.sentence_id for s in full.sentences[:3]} <= scored
    for ranked in evidence.passages:
        assert set(ranked.passage.sentence_ids) <= scored
    assert len(scored) < len(full.sentences)
    assert evidence.sentences[0] == full.sentences[0]


def test_a_serving_bundle_has_its_answer_types_ready(service: QAService) -> None:
    """Prepared when the service takes the index (and at every swap), so no question pays for the scan."""
    assert set(service.bundle.answer_type_cache) == {"when", "quantity", "where", "who"}
    flags = service.bundle.offers_answer_type("when")
    assert flags.tolist() == [offers(s.text, "when") for s in service.bundle.sentences]


def test_a_count_must_be_of_the_thing_asked(bundle: IndexBundle) -> None:
    """"How many fighters" is answered by a number of fighters, or of a word whose vector is close ("militants"
    in the article's own lexicon), not by a number of something else in the same sentence."""
    question = "how many fighters were killed"
    view = question_view(question, terms(question), bundle, ())
    assert view.counted == "fighter"
    vector = counted_vector(view)
    assert counts_the_thing("Officials said 40 fighters were killed.", view.counted, vector, bundle)
    assert counts_the_thing("Officials said 40 militants were killed.", view.counted, vector, bundle)
    assert not counts_the_thing("Officials said 40 refugees crossed the border.", view.counted, vector, bundle)
    assert not counts_the_thing("The fighters crossed the border 40 times.", view.counted, vector, bundle)  # after


def test_copies_of_one_sentence_share_a_rank_and_push_no_other_down() -> None:
    """Two outlets' copies of a wire sentence score the same: counted apart, the next sentence fell a rank."""
    scores = np.array([0.5, 0.7, 0.7, 0.2])
    assert _rank_feature(scores, ["b", "a", "a", "c"]).tolist() == pytest.approx([1 / 2, 1, 1, 1 / 3])
    assert _rank_feature(scores, ["b", "a", "d", "c"]).tolist() == pytest.approx([1 / 3, 1, 1 / 2, 1 / 4])

