"""`m2t report` on a real run (bundled SmolLM2 and MiniLM, text-only items, one with a hostile
title): the files, the numbers against analysis.metrics, and the page in a real headless
Chromium — the tables render, no console error, and the hostile title is shown as text with
no dialog and no handler attribute."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis import load_run, metrics
from pipelines.cli import app
from pipelines.config import validate_config
from pipelines.runner import Runner
from tests.conftest import write_manifest

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)> <a href="javascript:alert(3)">click</a>'
ROWS = [
    {"id": "t1", "title": "World Cup final highlights", "description": "All goals", "split": "train",
     "labels": {"popularity": "global-big-hit"}},
    {"id": "t2", "title": "Town council meeting", "description": "Parking rules", "split": "train",
     "labels": {"popularity": "local-hit"}},
    {"id": "t3", "title": "Official music video", "description": "A world famous singer", "split": "train",
     "labels": {"popularity": "global-big-hit"}},
    {"id": "q1", "title": HOSTILE, "description": "Minutes of the village council", "split": "test",
     "labels": {"popularity": "local-hit"}},
    {"id": "q2", "title": "Football goals of the season", "description": "Best goals", "split": "test",
     "labels": {"popularity": "global-big-hit"}},
    {"id": "q3", "title": "Unlabelled street party", "description": "A barbecue", "split": "test"},
]
LLM = {"backend": "local", "model": "bundled:smollm2-135m-instruct", "max_tokens": 48}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("report")
    cfg = {"name": "study", "task": "popularity", "dataset": {"path": str(write_manifest(tmp, ROWS))},
           "stages": {"summarize": {}, "embed": {}, "retrieve_similar": {"k": 2},
                      "hypothesize": {"n_hypotheses": 2, "llm": LLM}, "predict": {"mode": "hypotheses", "llm": LLM}}}
    Runner(validate_config(cfg), runs_dir=tmp / "runs", cache_dir=tmp / "cache", run_id="r", show_progress=False).run()
    result = CliRunner().invoke(app, ["report", "r", "--runs-dir", str(tmp / "runs"), "--out", str(tmp / "out")])
    assert result.exit_code == 0, result.output
    return {"run": load_run(tmp / "runs" / "r"), "out": tmp / "out", "html": (tmp / "out" / "report.html").read_text()}


def test_the_files_and_their_numbers(report: dict):
    out, run = report["out"], report["run"]
    for name in ("report.html", "metrics.csv", "metrics.md", "predictions.csv"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "metrics.csv").set_index("metric")
    labelled = run.predictions.dropna(subset=["gold"])
    expected = metrics.accuracy(labelled["gold"].tolist(), labelled["predicted"].tolist())
    assert table.loc["accuracy", "value"] == pytest.approx(expected.value)
    assert (table.loc["accuracy", "low"], table.loc["accuracy", "high"]) == pytest.approx((expected.low, expected.high))
    assert table.loc["accuracy", "n"] == 2  # the unlabelled item is left out, and the page says so
    assert "1 predictions have no gold label" in report["html"]
    assert any(m.startswith("majority baseline") for m in table.index)
    assert "| accuracy |" in (out / "metrics.md").read_text()
    assert len(pd.read_csv(out / "predictions.csv")) == 3


def test_run_text_is_escaped_and_nothing_is_fetched(report: dict):
    html = report["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert not re.search(r"<[^>]*\son\w+=", html)  # no tag carries an event handler attribute
    assert not re.search(r"<a[^>]*href=[\"']?javascript:", html)
    assert "http://" not in html.replace('http-equiv', '') and "https://" not in html
    assert html.count('src="data:image/png;base64,') >= 3  # metrics, confusion, reliability (and timings)


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for program in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not Path(program).exists() and not shutil.which(Path(program).name):
            pytest.fail(f"{program} is missing: run `make system-deps` (installs Debian's chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1600"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def test_the_report_in_a_real_browser(report: dict):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver = _browser()
    try:
        driver.get((report["out"] / "report.html").as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "table.metrics tr")
        assert len(rows) == 5 and "accuracy" in rows[1].text and "r" in rows[1].text  # header + 3 metrics + baseline
        assert driver.find_elements(By.CSS_SELECTOR, "table.confusion td")
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text
        titles = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "section.item .title")]
        assert "<script>alert(1)</script><img src=x onerror=alert(2)> " in "\n".join(titles) + " "
        assert driver.execute_script("return document.querySelectorAll('[onerror], script, a[href^=javascript]').length") == 0
        widths = driver.execute_script("return Array.from(document.images).map(i => i.naturalWidth)")
        assert widths and all(w > 0 for w in widths)
    finally:
        driver.quit()
