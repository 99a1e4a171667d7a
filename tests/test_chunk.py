"""Ingest and chunking: blocks, sentences and passages of the real article and of small built documents.

Every piece must be a verbatim slice of the stored text (`text == document.text[start:end]`), because
quotes and citations are made of nothing else.
"""

from __future__ import annotations

import pytest

from app.ingest.blocks import is_heading, make_document, parse_blocks, title_end
from app.ingest.chunk import PASSAGE_SENTENCES, parse_document, split_sentences
from app.models import ParsedDocument, Passage, Sentence

DOC_ID = "pakistan-afghanistan-talks"
BARRIER_KINDS = ("title", "heading", "navigation")


def parse(text: str, doc_id: str = "doc") -> ParsedDocument:
    return parse_document(make_document(doc_id, text))


def assert_exact_offsets(parsed: ParsedDocument) -> None:
    """The offsets invariant for every block, sentence and passage, and no piece padded with white space."""
    text = parsed.document.text
    for block in parsed.blocks:
        piece = text[block.start : block.end]
        assert piece and piece == piece.strip(), block
    for item in pieces(parsed):
        assert item.text == text[item.start : item.end], item
        assert item.text and item.text == item.text.strip(), item
        assert item.doc_id == parsed.document.doc_id


def pieces(parsed: ParsedDocument) -> list[Sentence | Passage]:
    return [*parsed.sentences, *parsed.passages]


def sentence_texts(parsed: ParsedDocument) -> list[str]:
    return [s.text for s in parsed.sentences]


def sentence_starting(parsed: ParsedDocument, prefix: str) -> Sentence:
    matches = [s for s in parsed.sentences if s.text.startswith(prefix)]
    assert len(matches) == 1, f"{len(matches)} sentences start with {prefix!r}"
    return matches[0]


def is_list_passage(parsed: ParsedDocument, passage: Passage) -> bool:
    first, *rest = (parsed.sentences[i] for i in passage.sentence_ids)
    return first.introduces_list and bool(rest) and all(s.is_bullet for s in rest)


@pytest.fixture(scope="module")
def article(article_text: str) -> ParsedDocument:
    return parse(article_text, DOC_ID)


# --- the real article -------------------------------------------------------------------------------------


def test_every_piece_of_the_article_is_an_exact_slice(article: ParsedDocument) -> None:
    assert len(article.sentences) > 50 and len(article.passages) > 20
    assert_exact_offsets(article)


def test_sentences_are_in_order_and_do_not_overlap(article: ParsedDocument) -> None:
    assert [s.sentence_id for s in article.sentences] == list(range(len(article.sentences)))
    for before, after in zip(article.sentences, article.sentences[1:], strict=False):
        assert before.end <= after.start


def test_every_sentence_is_in_some_passage(article: ParsedDocument) -> None:
    covered = {sid for p in article.passages for sid in p.sentence_ids}
    assert covered == {s.sentence_id for s in article.sentences}


def test_title_is_split_off_the_glued_first_sentence(article: ParsedDocument) -> None:
    assert article.title.startswith("5 Key Takeaways")
    assert article.title.endswith("warnings.")
    first = article.sentences[0]
    assert first.text.startswith("Peace talks between Pakistan and Afghanistan")
    assert article.blocks[0].kind == "title"
    assert first.start == article.blocks[0].end  # glued: no white space between title and sentence


def test_curly_quotes_stay_inside_their_sentence(article: ParsedDocument) -> None:
    message = sentence_starting(article, "“The message in Istanbul")
    assert message.text.endswith("the official added.")
    assert "peace cannot be unilateral,”" in message.text
    stance = sentence_starting(article, "A senior Pakistani official quoted by Dawn")
    assert stance.text.endswith("is unacceptable.”")
    # a closing quote is never torn off onto the next sentence, an opening one never left dangling
    for sentence in article.sentences:
        assert not sentence.text.startswith(("”", "’")), sentence.text
        assert not sentence.text.endswith(("“", "‘")), sentence.text


def test_em_dashes_are_not_sentence_boundaries(article: ParsedDocument) -> None:
    asif = sentence_starting(article, "During the Istanbul talks")
    assert "delegation—led by Defence Minister Khawaja Asif—submitted" in asif.text
    for sentence in article.sentences:
        assert not sentence.text.startswith("—") and not sentence.text.endswith("—"), sentence.text
    text = article.document.text
    dashes = [i for i, c in enumerate(text) if c == "—"]
    assert dashes
    for at in dashes:  # every em-dash of the article lies strictly inside one sentence
        assert any(s.start < at < s.end - 1 for s in article.sentences), text[at - 30 : at + 30]


def test_abbreviations_do_not_split_sentences(article: ParsedDocument) -> None:
    texts = sentence_texts(article)
    assert any("U.S. President Donald Trump" in t for t in texts)
    assert any(t.endswith("economist Dr. Khalid Mahmood.") for t in texts)
    assert any("analyst Dr. Mehmet Yildiz." in t for t in texts)
    for t in texts:
        assert not t.endswith(("U.S.", "Dr.")), t


def test_bullets_after_a_colon_line_form_one_list_passage(article: ParsedDocument) -> None:
    intro = sentence_starting(article, "The Taliban reportedly set two conditions")
    assert intro.introduces_list and not intro.is_bullet
    items = article.sentences[intro.sentence_id + 1 : intro.sentence_id + 3]
    assert [s.is_bullet for s in items] == [True, True]
    assert items[0].text == "Pakistan must refrain from violating Afghan airspace and borders, and"  # no "- "
    assert items[1].text.startswith("Islamabad must not allow opposition groups")
    assert not article.sentences[intro.sentence_id + 3].is_bullet
    [passage] = [p for p in article.passages if intro.sentence_id in p.sentence_ids]
    assert passage.sentence_ids == (intro.sentence_id, *(s.sentence_id for s in items))
    assert passage.start == intro.start and passage.end == items[-1].end


def test_four_item_framework_list_is_one_passage(article: ParsedDocument) -> None:
    intro = sentence_starting(article, "Pakistan’s proposed framework included:")
    assert intro.introduces_list
    [passage] = [p for p in article.passages if intro.sentence_id in p.sentence_ids]
    assert len(passage.sentence_ids) == 5
    assert passage.text.endswith("real-time communication during security incidents.")
    assert all(article.sentences[i].is_bullet for i in passage.sentence_ids[1:])


def test_also_read_lines_are_never_inside_a_sentence_or_passage(article: ParsedDocument) -> None:
    navigation = [b for b in article.blocks if b.kind == "navigation"]
    assert len(navigation) == 2
    assert all(article.document.text[b.start : b.end].startswith("Also Read:") for b in navigation)
    for block in navigation:
        for item in pieces(article):
            assert item.end <= block.start or item.start >= block.end, item.text
    assert not any("Also Read" in item.text for item in pieces(article))


def test_every_passage_stays_within_one_section(article: ParsedDocument) -> None:
    barriers = [b.start for b in article.blocks if b.kind in BARRIER_KINDS]
    for passage in article.passages:
        assert {article.sentences[i].section for i in passage.sentence_ids} == {passage.section}
        assert not any(passage.start < at < passage.end for at in barriers), passage.text
    assert {p.section for p in article.passages} <= set(article.sections)


def test_passages_have_at_most_three_sentences_except_lists(article: ParsedDocument) -> None:
    lists = 0
    for passage in article.passages:
        if is_list_passage(article, passage):
            lists += 1
        else:
            assert 1 <= len(passage.sentence_ids) <= PASSAGE_SENTENCES, passage.text
    assert lists == 3  # the framework, the Taliban's conditions, the closing "message remains firm" list


def test_sections_follow_the_headings(article: ParsedDocument) -> None:
    assert "Pakistan’s Final Position and Counterterrorism Demands" in article.sections
    sticking = sentence_starting(article, "A senior Pakistani source told Geo News")
    assert sticking.section == "Stalemate Persists Despite Mediation Efforts"
    assert article.sentences[0].section == article.title


def test_parsing_is_deterministic(article_text: str) -> None:
    assert parse(article_text, DOC_ID) == parse(article_text, DOC_ID)
    assert make_document("a", article_text).sha256 == make_document("b", article_text).sha256


# --- small documents built here -----------------------------------------------------------------------------


def test_markdown_title_and_headings() -> None:
    doc = parse("# Storm Report\n\nRain fell all day. Roads closed.\n\n## Damage\n\nTwo bridges washed away.\n")
    assert_exact_offsets(doc)
    assert doc.title == "Storm Report"
    assert doc.sections == ("Storm Report", "Damage")
    assert [b.kind for b in doc.blocks] == ["title", "paragraph", "heading", "paragraph"]
    assert sentence_texts(doc) == ["Rain fell all day.", "Roads closed.", "Two bridges washed away."]
    assert doc.sentences[-1].section == "Damage"


def test_numbered_bullets_are_a_list_with_their_intro() -> None:
    doc = parse(
        "Plan\nThe council agreed on three steps:\n1. Close the roads.\n2) Open shelters\n3. Call for aid.\nEnd."
    )
    assert_exact_offsets(doc)
    assert sentence_texts(doc) == [
        "The council agreed on three steps:",
        "Close the roads.",
        "Open shelters",
        "Call for aid.",
        "End.",
    ]
    assert doc.sentences[0].introduces_list
    assert [s.is_bullet for s in doc.sentences] == [False, True, True, True, False]
    assert [p.sentence_ids for p in doc.passages] == [(0, 1, 2, 3), (4,)]


def test_crlf_line_endings_keep_offsets_exact() -> None:
    lf = "Title line\nFirst sentence here. Second one here.\n\nA Heading\nMore text here.\n- a bullet item\n"
    crlf = lf.replace("\n", "\r\n")
    doc = parse(crlf)
    assert_exact_offsets(doc)
    assert not any("\r" in s.text for s in doc.sentences)
    assert doc.title == "Title line"
    assert sentence_texts(doc) == sentence_texts(parse(lf))
    assert [p.text.replace("\r\n", "\n") for p in doc.passages] == [p.text for p in parse(lf).passages]
    assert [s.section for s in doc.sentences] == ["Title line", "Title line", "A Heading", "A Heading"]


def test_empty_document_has_no_pieces() -> None:
    doc = parse("", doc_id="empty")
    assert (doc.blocks, doc.sentences, doc.passages, doc.sections) == ((), (), (), ())
    assert doc.title == "empty"  # falls back to the document id
    assert parse("  \n\n\t\n").passages == ()


def test_title_only_document() -> None:
    doc = parse("Just A Headline\n")
    assert doc.title == "Just A Headline"
    assert [b.kind for b in doc.blocks] == ["title"]
    assert doc.sentences == () and doc.passages == ()


def test_short_line_without_punctuation_is_a_heading_and_a_barrier() -> None:
    doc = parse("Title\nOne. Two.\nWhat Comes Next\nThree. Four.\n")
    assert_exact_offsets(doc)
    assert [b.kind for b in doc.blocks] == ["title", "paragraph", "heading", "paragraph"]
    assert [p.text for p in doc.passages] == ["One. Two.", "Three. Four."]
    assert [p.section for p in doc.passages] == ["Title", "What Comes Next"]


@pytest.mark.parametrize(
    ("paragraph", "sentences"),
    [
        ("Mr. Smith went to Washington. He met Mrs. Jones.", ["Mr. Smith went to Washington.", "He met Mrs. Jones."]),
        ("The U.N. agreed. The U.S. Army left.", ["The U.N. agreed.", "The U.S. Army left."]),
        ("Wait... what happened next? Nobody knew.", ["Wait... what happened next?", "Nobody knew."]),
        ("Then what? Nothing! Done.", ["Then what?", "Nothing!", "Done."]),
        ("It grew 3.5 percent. Prices rose.", ["It grew 3.5 percent.", "Prices rose."]),
        ("He said “It is over.” “We go now,” she replied.", ["He said “It is over.”", "“We go now,” she replied."]),
        ("“Is it over?” he asked. ‘Yes.’ Done.", ["“Is it over?” he asked.", "‘Yes.’", "Done."]),
        ("Trade fell—sharply—in May. It recovered.", ["Trade fell—sharply—in May.", "It recovered."]),
    ],
)
def test_sentence_splitting(paragraph: str, sentences: list[str]) -> None:
    text = f"Title\n{paragraph}\n"
    start = text.index(paragraph)
    assert [text[a:b] for a, b in split_sentences(text, start, start + len(paragraph))] == sentences
    assert sentence_texts(parse(text)) == sentences


def test_messy_white_space_is_trimmed_but_offsets_stay_exact() -> None:
    doc = parse("  Title  \n\t First one.   Second one.\t \n   - indented bullet  \n\n\n   Last one. \n")
    assert_exact_offsets(doc)
    assert sentence_texts(doc) == ["First one.", "Second one.", "indented bullet", "Last one."]


def test_long_paragraph_windows_overlap_and_cover_everything() -> None:
    paragraph = " ".join(f"Sentence number {n} is here." for n in range(7))
    doc = parse(f"Title\n{paragraph}\n")
    assert_exact_offsets(doc)
    assert [p.sentence_ids for p in doc.passages] == [(0, 1, 2), (2, 3, 4), (4, 5, 6)]


# --- ingest helpers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("Ceasefire Background: Doha to Istanbul", True),
        ("Taliban’s Response: ‘Respect Our Borders’", True),
        ("Pakistan’s proposed framework included:", False),
        ("Kabul accused Pakistan of violating its sovereignty.", False),
        ("- Joint verification and intelligence-sharing", False),
        ("1. First step", False),
        (" ".join(["word"] * 20), False),
    ],
)
def test_is_heading(line: str, heading: bool) -> None:
    assert is_heading(line) is heading


def test_title_end_only_splits_a_glued_sentence() -> None:
    glued = "Talks Stall amid warnings.Peace talks resumed."
    assert glued[: title_end(glued, 0, len(glued))] == "Talks Stall amid warnings."
    plain = "U.S. Envoy Arrives in Kabul"
    assert title_end(plain, 0, len(plain)) == len(plain)


def test_navigation_lines_are_their_own_blocks() -> None:
    text = "Title\nOne sentence.\nRead more: another story\nAdvertisement\nRelated: x\nTwo sentence.\n"
    title, blocks = parse_blocks(text)
    assert title == "Title"
    assert [b.kind for b in blocks] == ["title", "paragraph", "navigation", "navigation", "navigation", "paragraph"]
