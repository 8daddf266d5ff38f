"""write_report on a real run (sample clips, two frames each, the bundled MiniLM and SmolLM2
through every reasoning stage; one test item with a hostile title, one without a gold label,
one frame file removed from the cache) beside a run without predictions: the files, the numbers
against analysis.metrics, the escaping, and a page that fetches nothing.

``built_report`` is shared with test_report_browser.py, so the run is made once per session."""

from __future__ import annotations

import base64
import functools
import io
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analysis import load_run, metrics
from analysis.report import markdown_table, write_report
from pipelines.config import validate_config
from pipelines.runner import Runner
from tests.conftest import ROOT, copy_sample, write_manifest

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)> <a href="javascript:alert(3)">click</a>'
LLM = {"backend": "local", "model": "bundled:smollm2-135m-instruct", "max_tokens": 48}
RUN_ID, EMPTY_ID = "study-1", "no-predictions"


def _rows(media: Path) -> list[dict[str, Any]]:
    return [
        {"id": "espresso", "path": copy_sample("espresso.mp4", media), "title": "How I make espresso at home",
         "split": "train", "labels": {"popularity": "local-hit"}},
        {"id": "cat_sofa", "path": copy_sample("cat_sofa.mp4", media), "title": "My cat sleeps all day",
         "split": "train", "labels": {"popularity": "global-big-hit"}},
        {"id": "rocket", "path": copy_sample("rocket_countdown.mp4", media), "title": "Countdown to lift off",
         "split": "test", "labels": {"popularity": "global-big-hit"}},
        {"id": "hostile", "path": copy_sample("photographer.mp4", media), "title": HOSTILE, "split": "test",
         "labels": {"popularity": "local-hit"}},
        {"id": "unlabelled", "path": copy_sample("coin_collection.mp4", media), "title": "My coin collection",
         "split": "test"},
    ]


@functools.cache
def _build(base: Path) -> dict[str, Any]:
    tmp = base / "report-fixture"
    media = tmp / "media"
    cfg = validate_config({
        "name": "report-study", "task": "popularity", "dataset": {"path": str(write_manifest(media, _rows(media)))},
        "stages": {"extract_frames": {"num_frames": 2}, "summarize": {}, "embed": {}, "retrieve_similar": {"k": 2},
                   "hypothesize": {"n_hypotheses": 2, "llm": LLM}, "predict": {"mode": "hypotheses", "llm": LLM}}})
    result = Runner(cfg, runs_dir=tmp / "runs", cache_dir=tmp / "cache", run_id=RUN_ID, show_progress=False).run()
    assert result.exit_code == 0, result.errors
    run = load_run(result.run_dir)
    removed = Path(run["extract_frames"].set_index("item_id").loc["rocket", "frames"][0]["path"])
    removed.unlink()  # as if the frame cache had been cleaned since

    text_only = write_manifest(tmp / "text", [{"id": "a", "title": "A text-only item", "split": "test"}])
    empty = Runner(validate_config({"name": "summaries", "task": "popularity", "dataset": {"path": str(text_only)},
                                    "stages": {"summarize": {}}}),
                   runs_dir=tmp / "runs", cache_dir=tmp / "cache", run_id=EMPTY_ID, show_progress=False).run()
    html_path = write_report([result.run_dir, empty.run_dir], tmp / "out")
    return {"run": run, "out": tmp / "out", "path": html_path, "html": html_path.read_text(encoding="utf-8"),
            "run_dir": result.run_dir}


def built_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The run and its report (made on first use in the session)."""
    return _build(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, Any]:
    return built_report(tmp_path_factory)


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_files_and_their_numbers(report: dict[str, Any]):
    out, run = report["out"], report["run"]
    assert report["path"] == out / "report.html"
    for name in ("report.html", "metrics.csv", "metrics.md", "predictions.csv"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "metrics.csv")
    assert set(table["run_id"]) == {RUN_ID}  # the run without predictions has no rows
    mine = table.set_index("metric")
    labelled = run.predictions.dropna(subset=["gold"])
    gold, predicted = labelled["gold"].tolist(), labelled["predicted"].tolist()
    assert len(labelled) == 2 and len(run.predictions) == 3  # the unlabelled test item is predicted, not scored
    for name, fn in (("accuracy", metrics.accuracy), ("balanced_accuracy", metrics.balanced_accuracy),
                     ("macro_f1", metrics.macro_f1)):
        expected = fn(gold, predicted)
        row = mine.loc[name]
        assert (row["value"], row["low"], row["high"]) == pytest.approx((expected.value, expected.low, expected.high))
        assert row["n"] == expected.n == 2
    baseline = metrics.majority_baseline(["local-hit", "global-big-hit"], gold)  # the two train labels
    assert mine.loc["accuracy", "baseline"] == pytest.approx(baseline.value)
    assert mine.loc["accuracy", "baseline_label"] == "global-big-hit"  # the tie goes to the first in sorted order
    assert mine.loc["accuracy", "baseline_from"].startswith("train split")

    md = (out / "metrics.md").read_text().splitlines()
    assert md[0].startswith("| run_id | metric | value | low | high | n | baseline |") and len(md) == 2 + 3
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns[:2]) == ["run_id", "item_id"] and set(predictions["run_id"]) == {RUN_ID}
    assert sorted(predictions["item_id"]) == ["hostile", "rocket", "unlabelled"]


def test_the_page_says_what_was_left_out(report: dict[str, Any]):
    html = report["html"]
    assert "1 of 3 predicted items has no gold label and is left out of the metrics." in html
    assert "This run has no predictions: no metrics." in html and EMPTY_ID in html
    assert "frame missing" in html  # the removed frame, the others shown
    assert html.count('<section class="item" id="item-') == 3


def test_run_text_is_escaped_everywhere(report: dict[str, Any]):
    html = report["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    tags = Tags(html).tags
    assert not [t for t, _ in tags if t in ("script", "iframe", "object", "embed", "link", "base", "form")]
    handlers = [(t, a) for t, attrs in tags for a in attrs if a.lower().startswith("on")]
    assert handlers == []
    urls = [v or "" for _, attrs in tags for k, v in attrs.items() if k in ("src", "href", "action", "srcset")]
    assert not [u for u in urls if u.strip().lower().startswith("javascript:")]


def test_nothing_is_fetched_and_images_are_data_uris(report: dict[str, Any]):
    tags = Tags(report["html"]).tags
    sources = [a["src"] or "" for t, a in tags if "src" in a]
    links = [a["href"] or "" for t, a in tags if "href" in a]
    assert all(s.startswith("data:image/") for s in sources) and all(h.startswith("#") for h in links)
    assert "http://" not in report["html"] and "https://" not in report["html"]
    plots = [s for s in sources if s.startswith("data:image/png;base64,")]
    assert len(plots) == 4  # metrics, confusion matrix, reliability diagram, seconds per stage
    frames = [s for s in sources if s.startswith("data:image/jpeg;base64,")]
    assert len(frames) == 3 * 2 - 1  # two frames per predicted item, one removed

    from PIL import Image

    for uri in plots + frames:
        with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
            image.load()
            assert image.format in ("PNG", "JPEG")
            if image.format == "JPEG":
                assert image.width <= 160


def test_a_run_without_extract_frames(report: dict[str, Any], tmp_path: Path):
    run = load_run(report["run_dir"])
    del run.stages["extract_frames"]
    html = write_report([run], tmp_path, train_labels=["local-hit"]).read_text()
    assert html.count("no extract_frames stage in this run") == 3 and "data:image/jpeg" not in html
    table = pd.read_csv(tmp_path / "metrics.csv")
    assert set(table["baseline_label"]) == {"local-hit"} and table["baseline_from"].str.startswith("given").all()


def test_markdown_cells_are_escaped():
    frame = pd.DataFrame([{"metric": "a|b", "note": "two\nlines", "value": 0.5, "low": float("nan")}])
    assert markdown_table(frame).splitlines() == ["| metric | note | value | low |", "|---|---|---|---|",
                                                  "| a\\|b | two lines | 0.5000 |  |"]


def test_reporting_imports_no_model_library(report: dict[str, Any], tmp_path: Path):
    probe = (f"import sys; from analysis.report import write_report; write_report([{str(report['run_dir'])!r}], "
             f"{str(tmp_path)!r}); "
             "print([m for m in ('torch', 'transformers', 'sentence_transformers', 'decord', 'faster_whisper') "
             "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_run_without_a_film_exam_has_no_exam_section(report: dict[str, Any]):
    assert not list(report["out"].glob("exam_*")) and 'id="exam"' not in report["html"]
    assert "Film exam" not in report["html"]
