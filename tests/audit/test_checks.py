"""Hand-written analyses of generated clips with known truth: every true measurable claim is
supported and every false one contradicted, each with its evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.audit.checks import VideoEvidence, check_claim
from pipelines.audit.claims import claim_type, object_names, split_claims

pytestmark = pytest.mark.slow

ESPRESSO = {
    "supported": [
        'The on-screen text reads "ESPRESSO".',
        "A cup is shown.",
        "The speaker talks about a perfect cup of espresso.",
        "There are two shots.",
    ],
    "contradicted": [
        'The on-screen text reads "CAPPUCCINO".',
        "A dog sits by the window.",
        "The speaker talks about a football match in the rain.",
        "The whole clip is dark and low-key.",
        "The dominant colour is green.",
    ],
}
NIGHT_WATCH = {
    "supported": [
        "The clip is dark and low-key.",
        "One shot is a close-up.",
        "The camera pans left.",
        "A voice says someone is at the gate.",
    ],
    "contradicted": [
        "There is a full shot of the guard.",
        "The camera zooms in.",
        "The narrator talks about a birthday party with balloons.",
        "The picture is bright and high-key.",
        "A dog runs across the frame.",
    ],
}


ANALYSES = {"espresso": ESPRESSO, "night": NIGHT_WATCH}  # the clips of tests/audit/conftest.py


@pytest.mark.parametrize("clip", ["espresso", "night"])
def test_true_claims_supported_false_ones_contradicted(clips, clip):
    _, evidence = clips[clip]
    analysis = ANALYSES[clip]
    for expected, claims in analysis.items():
        for claim in claims:
            kind = claim_type(claim)
            assert kind != "interpretation", claim
            verdict = check_claim(claim, kind, evidence)
            assert verdict.verdict == expected, f"{claim!r} ({kind}): {verdict.verdict}: {verdict.reason}"
            assert verdict.evidence, f"{claim!r}: no evidence cited"
            assert all(e.stage for e in verdict.evidence)


def test_an_analysis_split_into_typed_claims():
    text = ('The film opens on an extreme close-up of Dr. Collins; the camera pans right over the harbour. '
            'Warm orange tones dominate, and a cup sits on the table. The caption reads "LAUNCH". '
            'It conveys quiet anticipation.')
    claims = split_claims(text)
    assert [c.type for c in claims] == ["shot_scale", "camera_movement", "colour", "object", "onscreen_text",
                                        "interpretation"]
    for c in claims:
        assert text[c.start : c.end] == c.text
    assert object_names("two mugs and a puppy near the laptop") == ["cup", "dog", "laptop"]


def test_interpretations_are_never_hallucinations():
    verdict = check_claim("It evokes a sense of longing.", claim_type("It evokes a sense of longing."), VideoEvidence())
    assert verdict.verdict == "unverifiable" and "interpretation" in verdict.reason


def test_a_frame_description_is_checked_against_its_own_frame(clips):
    """night_watch has a face only in its close-up (4-6 s): "without faces" is true of the
    first frame and false of a frame in the close-up, whatever the rest of the video shows."""
    from pipelines.audit.checks import at_time

    _, evidence = clips["night"]
    claim = "Frame without faces"
    assert check_claim(claim, claim_type(claim), evidence).verdict == "contradicted"  # the whole video has a face
    early = min(f.timestamp_s for f in evidence.visuals.frames)
    close_up = next(f.timestamp_s for f in evidence.visuals.frames if 4.0 <= f.timestamp_s < 6.0)
    assert check_claim(claim, claim_type(claim), at_time(evidence, early)).verdict == "supported"
    assert check_claim(claim, claim_type(claim), at_time(evidence, close_up)).verdict == "contradicted"


@pytest.mark.parametrize("claim, verdict", [
    ("The clip opens in darkness.", "supported"),  # the first sampled frame is low-key
    ("The clip opens with the camera panning left.", "contradicted"),  # the first shot is static; the second pans
    ("The clip ends with a zoom out.", "contradicted"),  # the zoom is the fourth shot; the last is static
    ("In the final shot the camera does not move.", "supported"),
])
def test_claims_about_the_opening_or_the_end_are_checked_at_that_moment(clips, claim, verdict):
    _, evidence = clips["night"]
    result = check_claim(claim, claim_type(claim), evidence)
    assert result.verdict == verdict, (claim, result)
    assert result.reason.startswith(("opening shot", "closing shot")) and result.evidence


def test_a_claim_ordering_events_is_cut_at_its_order_words(clips):
    _, evidence = clips["night"]
    both = check_claim("The camera pans left, then it zooms out.", "camera_movement", evidence)
    assert both.verdict == "unverifiable" and "order is not checked" in both.reason and both.evidence
    wrong = check_claim("The camera pans left and later zooms in.", "camera_movement", evidence)
    assert wrong.verdict == "contradicted" and "zooms in" in wrong.reason


def test_shots_given_as_time_spans_must_begin_at_measured_cuts(clips):
    _, evidence = clips["night"]  # cuts at 2, 4, 6, 8 s
    right = "The shots are 0.0–2.0 s, 2.0–4.0 s and 4.0–6.0 s."
    wrong = "The shots are 0.0–3.0 s and 3.0–10.0 s."
    assert claim_type(right) == claim_type(wrong) == "editing"
    assert check_claim(right, "editing", evidence).verdict == "supported"
    result = check_claim(wrong, "editing", evidence)
    assert result.verdict == "contradicted" and "3.0" in result.reason


def test_no_audio_claims_fall_back_to_the_transcript(clips):
    _, evidence = clips["espresso"]  # no sound events in the fixture; the transcript has speech
    claim = "The video has no audio track."
    result = check_claim(claim, claim_type(claim), evidence)
    assert claim_type(claim) == "sound" and result.verdict == "contradicted"
    assert result.evidence[0].stage == "transcribe_audio"


def test_genre_and_classifier_label_claims_get_their_own_types():
    assert claim_type("The film's genres include music and drama.") == "metadata"
    assert claim_type("looks like oboe, suit") == "object"
    assert [c.type for c in split_claims("The camera is static, with no person in the frame.")] == \
        ["camera_movement", "person"]


def test_a_no_audio_claim_against_a_file_with_sound(tmp_path: Path):
    """A neighbour's property copied into an explanation ("no audio track") on a clip whose
    audio stream has speech: contradicted by the sound events."""
    from types import SimpleNamespace

    sound = SimpleNamespace(categories={"speech": 4.0}, segments=[], no_audio=False)
    claim = "The video shows horse sketches with no audio track."
    verdict = check_claim(claim, claim_type(claim), VideoEvidence(sound=sound))
    assert claim_type(claim) == "sound" and verdict.verdict == "contradicted" and "speech 4.0 s" in verdict.reason
    silent = SimpleNamespace(categories={}, segments=[], no_audio=True)
    assert check_claim(claim, "sound", VideoEvidence(sound=silent)).verdict == "supported"


@pytest.mark.parametrize(("claim", "verdict"), [
    ("The description mentions black and white street photography.", "supported"),
    ("The title says the video is about cooking pasta.", "contradicted"),
])
def test_a_claim_about_the_title_or_description_is_checked_against_them(claim, verdict):
    """"The description mentions ..." is checked against the title, description and tags, not
    the transcript (the video below has no speech at all)."""
    ev = VideoEvidence(title="Street photographer at work", description="Black and white street photography in the park.")
    kind = claim_type(claim)
    assert check_claim(claim, kind, ev).verdict == verdict, kind


def test_reads_followed_by_ordinary_words_is_no_quote():
    """Only quoted words, or a bare word after "reads" / "the word", count as text read on
    screen: "reads the word on the screen out loud" names no words to look for."""
    from pipelines.audit.checks import _quoted

    assert _quoted("The speaker reads the word on the screen out loud.") == []
    assert _quoted("The screen reads GREEN.") == ["GREEN"]
    assert _quoted('The title card reads "LIFT OFF".') == ["LIFT OFF"]


def test_no_sound_said_of_what_the_video_does_not_show_is_no_claim_about_its_audio(clips):
    """"does not show silent horse sketches with no sound" says nothing of this video's audio."""
    _, ev = clips["espresso"]  # a clip with speech
    claim = "Hypothesis 3 does not apply: the video does not show silent horse sketches with no sound."
    assert check_claim(claim, "sound", ev).verdict == "unverifiable"
    assert check_claim("The video has no sound.", "sound", ev).verdict == "contradicted"
