"""The one way a reason is written: the first line of an exception, never an exception itself."""

from __future__ import annotations


def test_first_line_never_raises_and_names_a_silent_exception():
    from pipelines.errors import BadInputError, first_line
    from pipelines.executors.local import one_line

    assert first_line(ValueError("\n  bad frame \nsecond line")) == "bad frame"
    assert first_line(ValueError("")) == "ValueError" and first_line(ValueError("   \n ")) == "ValueError"
    assert first_line(ValueError("x" * 500)) == "x" * 200 and len(first_line(ValueError("x" * 500), None)) == 500
    assert one_line(ValueError("bad")) == "ValueError: bad" and one_line(KeyError()) == "KeyError"
    assert one_line(BadInputError("cannot read x.mp4; check the path")) == "cannot read x.mp4; check the path"
