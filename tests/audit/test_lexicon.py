"""One vocabulary to type and to check (pipelines/audit/lexicon.py): a claim that names a fact a
rule checker knows is typed so that this checker sees it, and the checker then names that fact.
Before, "A melody plays throughout." and "A locked-off shot of the sea." were typed
interpretation (never checked) although check_sound knows "melody" and check_camera_movement
"locked-off"."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from pipelines.audit.checks import VideoEvidence, check_claim
from pipelines.audit.claims import claim_type
from pipelines.audit.lexicon import MOVEMENT_CUES, SCALE_CUES, SOUND_CUES

# one claim per fact each checker tells apart
SOUNDS = {"music": ["A melody plays throughout.", "A song plays in the background.", "Background music plays."],
          "silence": ["The clip is quiet."], "laughter": ["Laughter is heard."], "applause": ["Applause follows."],
          "tone": ["A steady tone plays.", "A low hum runs under the images."], "noise": ["Noise fills the room."],
          "speech": ["A voice is heard over the images."]}
SCALES = {"extreme close-up": "An extreme close-up of an eye.", "close-up": "A close-up of a hand.",
          "medium": "A medium shot of two people.", "full": "A full shot of the dancer.",
          "long": "A wide shot of the city."}
MOVEMENTS = {"static": ["A locked-off shot of the sea.", "The camera remains fixed on the door.",
                        "A static shot of a street."],
             "pan left": ["The camera pans left."], "pan right": ["The view pans to the right."],
             "tilt up": ["It tilts up to the sky."], "tilt down": ["The camera tilts down."],
             "zoom in": ["It zooms in on the face."], "zoom out": ["The shot zooms out."]}


def test_every_fact_a_checker_knows_has_a_claim_here() -> None:
    assert set(SOUNDS) == {fact for fact, _ in SOUND_CUES}
    assert set(SCALES) == {fact for fact, _ in SCALE_CUES}
    assert set(MOVEMENTS) == {fact for fact, _, types in MOVEMENT_CUES if types}


@pytest.mark.parametrize(("fact", "claim"), [(f, c) for f, cs in SOUNDS.items() for c in cs])
def test_a_sound_claim_is_typed_sound_and_checked_for_its_sound(fact: str, claim: str) -> None:
    assert claim_type(claim) == "sound"
    heard = SimpleNamespace(categories={fact: 3.0}, segments=[], no_audio=False)
    assert check_claim(claim, "sound", VideoEvidence(sound=heard)).verdict == "supported", claim
    other = "laughter" if fact != "laughter" else "music"
    unheard = SimpleNamespace(categories={other: 3.0}, segments=[], no_audio=False)
    assert check_claim(claim, "sound", VideoEvidence(sound=unheard)).verdict == "contradicted", claim


@pytest.mark.parametrize(("fact", "claim"), list(SCALES.items()))
def test_a_shot_scale_claim_is_typed_and_named(fact: str, claim: str) -> None:
    assert claim_type(claim) == "shot_scale"
    assert [f for f, cue in SCALE_CUES if re.search(rf"\b{cue}\b", claim, flags=re.IGNORECASE)] == [fact]


@pytest.mark.parametrize(("fact", "claim"), [(f, c) for f, cs in MOVEMENTS.items() for c in cs])
def test_a_camera_claim_is_typed_and_checked_for_its_movement(fact: str, claim: str) -> None:
    assert claim_type(claim) == "camera_movement"
    shot = SimpleNamespace(start_s=0.0, end_s=4.0, camera_movement=fact, shot_scale=None)
    assert check_claim(claim, "camera_movement", VideoEvidence(visuals=SimpleNamespace(shots=[shot]))).verdict \
        == "supported", claim


@pytest.mark.parametrize("claim", ["The frying pan is hot.", "Warm tones dominate the frame.",
                                   "The tone of the video is upbeat."])
def test_words_that_name_a_fact_only_in_context_do_not_type_alone(claim: str) -> None:
    assert claim_type(claim) not in ("camera_movement", "sound")
