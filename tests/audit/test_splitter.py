"""The LLM splitter's claims placed back in the text (unit logic), and the real bundled model
splitting a text through the stage."""

from __future__ import annotations

from pipelines.audit.splitter import place_claims, read_split

TEXT = ("The clip opens with a close-up of a man. He says hello, and the camera pans left across a dark room. "
        "Music plays first, then the narrator speaks. It feels lonely.")


def test_each_claim_is_placed_where_it_is_in_the_text():
    split = place_claims(["the clip opens with a close-up of a man", "The camera pans left across a dark room",
                          "A dog barks in the garden"], TEXT)
    spans = {c.text: TEXT[c.start:c.end] for c in split.claims}
    assert spans["the clip opens with a close-up of a man"] == "The clip opens with a close-up of a man"
    assert spans["The camera pans left across a dark room"] == "the camera pans left across a dark room"
    assert split.invented == ["A dog barks in the garden"]  # in no sentence: left out, counted
    # the clause the model skipped is audited all the same
    assert "He says hello" in spans and spans["He says hello"] == "He says hello"
    assert split.how == "llm"


def test_a_paraphrase_takes_the_span_of_its_sentence():
    split = place_claims(["A man is shown in close-up at the opening of the clip"], TEXT)
    first = split.claims[0]
    assert (first.start, first.end) == (0, TEXT.index(".") + 1) and first.type == "shot_scale"


def test_a_sentence_ordering_events_is_kept_whole():
    split = place_claims(["Music plays first", "The narrator speaks"], TEXT)
    ordered = [c for c in split.claims if "Music" in c.text]
    assert [c.text for c in ordered] == ["Music plays first, then the narrator speaks."]


def test_an_unreadable_reply_falls_back_to_sentences():
    split = read_split("Sure! Here are the claims: the man, the room.", TEXT)
    assert split.how.startswith("sentences") and len(split.claims) >= 4
    assert all(TEXT[c.start:c.end] == c.text for c in split.claims)
