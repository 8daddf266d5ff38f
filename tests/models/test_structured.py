import pytest

from pipelines.models.structured import AnswerError, json_objects, parse_hypotheses, parse_prediction
from pipelines.tasks import get_task

TASK = get_task("popularity")


def test_json_objects_are_found_inside_prose():
    text = 'Thinking... {"a": 1} then {"label": "x", "nested": {"b": "}"}} end {broken'
    assert json_objects(text) == [{"a": 1}, {"label": "x", "nested": {"b": "}"}}]


@pytest.mark.parametrize(
    ("text", "label", "confidence"),
    [
        ('{"label": "local-hit", "confidence": 0.8, "explanation": "small channel"}', "local-hit", 0.8),
        ('Reasoning first.\n{"label": "Global Big Hit", "confidence": "85%"}', "global-big-hit", 0.85),
        ('{"label": "viral"} and then {"label": "global-big-hit", "confidence": 70}', "global-big-hit", 0.7),
        ('{"scale": 2, "explanation": "local"}', "local-hit", None),
    ],
)
def test_valid_answers(text, label, confidence):
    answer = parse_prediction(text, TASK)
    assert answer.label == label and answer.confidence == confidence


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("I'm sorry, but I can't help with that.", "refusal"),
        ('{"label": local-hit', "no JSON object"),
        ('{"label": "mega-hit", "confidence": 0.9}', "'mega-hit' is not one of local-hit, global-big-hit"),
        ('{"confidence": 0.9}', "None is not one of"),
    ],
)
def test_unusable_answers_say_why(text, reason):
    with pytest.raises(AnswerError, match=reason):
        parse_prediction(text, TASK)


def test_hypotheses_parsed_from_json_or_numbered_lines():
    assert parse_hypotheses('{"hypotheses": ["Short videos travel.", {"text": "Music is global."}]}') == (
        ["Short videos travel.", "Music is global."], "json")
    assert parse_hypotheses("Here:\n1. Videos in English reach more countries.\n2) Local news stays local.\n") == (
        ["Videos in English reach more countries.", "Local news stays local."], "numbered_lines")
    with pytest.raises(AnswerError, match="no hypotheses"):
        parse_hypotheses("no idea")


def test_scale_and_label_normalisation():
    assert TASK.normalise_label(4) == "global-big-hit" and TASK.normalise_label("1") == "local-hit"
    assert TASK.normalise_label("LOCAL_HIT") == "local-hit" and TASK.normalise_label("big") is None
