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
        ('{"label": "glob', "no JSON object"),
        ('{"label": "mega-hit", "confidence": 0.9}', "'mega-hit' is not one of local-hit, global-big-hit"),
        ('{"confidence": 0.9}', "None is not one of"),
    ],
)
def test_unusable_answers_say_why(text, reason):
    with pytest.raises(AnswerError, match=reason):
        parse_prediction(text, TASK)


def test_an_answer_cut_off_by_the_token_limit_keeps_its_complete_fields():
    answer = parse_prediction('{"label": "local-hit", "confidence": 0.7, "explanation": "the camera is a camera', TASK)
    assert (answer.label, answer.confidence, answer.explanation, answer.partial) == ("local-hit", 0.7, "", True)
    assert not parse_prediction('{"label": "local-hit"}', TASK).partial


def test_hypotheses_parsed_from_json_or_numbered_lines():
    assert parse_hypotheses('{"hypotheses": ["Short videos travel.", {"text": "Music is global."}]}') == (
        ["Short videos travel.", "Music is global."], "json")
    assert parse_hypotheses("Here:\n1. Videos in English reach more countries.\n2) Local news stays local.\n") == (
        ["Videos in English reach more countries.", "Local news stays local."], "numbered_lines")
    assert parse_hypotheses('{"hypotheses": ["Music videos travel far.", "Local news stays lo') == (
        ["Music videos travel far."], "partial_json")
    assert parse_hypotheses('{"hypotheses": [\n"\nShort clips\ntravel", "bad \\q escape here", "cut') == (
        ["Short clips\ntravel", "bad \\q escape here"], "partial_json")
    with pytest.raises(AnswerError, match="no hypotheses"):
        parse_hypotheses("no idea")


def test_sentences_are_the_last_resort_for_hypotheses():
    from pipelines.models.structured import sentences

    text = 'Sure! Local videos stay local. {"hypotheses": [\nGlobal stars reach many countries\nok'
    assert sentences(text) == ["Local videos stay local.", "Global stars reach many countries"]


def test_scale_and_label_normalisation():
    assert TASK.normalise_label(4) == "global-big-hit" and TASK.normalise_label("1") == "local-hit"
    assert TASK.normalise_label("LOCAL_HIT") == "local-hit" and TASK.normalise_label("big") is None


def test_a_cut_off_answer_keeps_its_complete_citations():
    from pipelines.models.structured import parse_prediction
    from pipelines.tasks import get_task

    cut = '{"label": "global-big-hit", "confidence": 0.9, "hypotheses_used": [1, 2], "explanation": "The rocket clim'
    answer = parse_prediction(cut, get_task("popularity"))
    assert answer.partial and answer.hypotheses_used == [1, 2] and answer.label == "global-big-hit"
