from pipelines.records import ErrorRecord, SummaryRecord, TranscriptRecord, TranscriptSegment, parse_record

PROV = dict(item_id="a", stage_version=1, key="k", input_hash="i", config_hash="c")


def test_records_round_trip_through_json_by_stage():
    rec = TranscriptRecord(
        **PROV, stage="transcribe_audio", segments=[TranscriptSegment(start_s=0.5, end_s=1.0, text=" hi there ")]
    )
    back = parse_record(rec.model_dump(mode="json"))
    assert isinstance(back, TranscriptRecord)
    assert back == rec
    assert back.text == "hi there"
    assert back.created_at.tzinfo is not None


def test_unknown_stage_and_extra_fields_are_rejected():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValueError, match="unknown record stage"):
        parse_record({**PROV, "stage": "nope"})
    with pytest.raises(ValidationError):
        SummaryRecord(**PROV, stage="summarize", text="t", sections=[], surprise=1)
    assert ErrorRecord(item_id="a", stage="s", error_type="E", reason="r").created_at.tzinfo is not None
