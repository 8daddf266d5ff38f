"""The audit report of a real run, opened in a real headless Chromium: no console error, no
dialog, hostile text shown as text, a claim opens on click to its evidence and links to its
frame, every frame decoded. Chromium and its driver come from `make system-deps`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser import opened
from tests.conftest import ROOT, copy_sample, write_manifest

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> "Bobby" & co'
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, Any]:
    from analysis import load_run
    from analysis.audit_report import write_audit_report
    from pipelines.audit.run_audit import audit_run
    from pipelines.config import load_config
    from pipelines.records import AuditedClaim, AuditRecord, EvidenceRef
    from pipelines.runner import Runner

    tmp = tmp_path_factory.mktemp("audit-report")
    copy_sample("espresso.mp4", tmp / "data")
    row = next(json.loads(line) for line in (ROOT / "data/samples/manifest.jsonl").read_text().splitlines()
               if json.loads(line)["id"] == "espresso")
    manifest = write_manifest(tmp / "data", [{**row, "title": HOSTILE}])
    config = tmp / "c.yaml"
    config.write_text(json.dumps({"name": "audit-browser", "task": "popularity", "dataset": {"path": str(manifest)},
                                  "stages": {"extract_frames": {"num_frames": 4}, "measure_visuals": {},
                                             "detect_objects": {}, "describe_frames": {}}}))
    result = Runner(load_config(config), runs_dir=tmp / "runs", cache_dir=tmp / "cache", show_progress=False).run()
    assert result.exit_code == 0
    records = audit_run(result.run_dir)
    text = f"The narrator says {HOSTILE}. A dog sleeps."
    hostile = AuditRecord(
        item_id="espresso", stage="audit_claims", stage_version=1, key="k", input_hash="i", config_hash="c",
        sources={"predict.explanation": text},
        claims=[AuditedClaim(source="predict.explanation", text=text[:-14], start=0, end=len(text) - 14,
                             type="speech", verdict="unverifiable", reason=HOSTILE,
                             evidence=[EvidenceRef(stage="transcribe_audio", field="text", value=HOSTILE, time_s=0.5)]),
                AuditedClaim(source="predict.explanation", text="A dog sleeps.", start=len(text) - 13, end=len(text),
                             type="object", verdict="contradicted", reason="dog detected in none of the frames",
                             evidence=[EvidenceRef(stage="detect_objects", field="counts", value="{'cup': 2}",
                                                   time_s=1.0)])],
        counts={"unverifiable": 1, "contradicted": 1})
    out = write_audit_report(load_run(result.run_dir), [*records, hostile], tmp / "audit")
    return {"path": out["html"], "n_records": len(records)}


@pytest.fixture(scope="module")
def page(report) -> Any:
    with opened(report["path"]) as driver:
        yield driver


def test_claims_are_marked_and_open_to_their_evidence(page, report):
    from selenium.webdriver.common.by import By

    assert report["n_records"] >= 1
    marked = page.find_elements(By.CSS_SELECTOR, "details.claim")
    assert len(marked) >= 3
    assert {m.get_attribute("class").split()[-1] for m in marked} >= {"supported", "contradicted"}
    dog = next(m for m in marked if m.text.startswith("A dog sleeps."))
    assert "contradicted" in dog.get_attribute("class")
    dog.find_element(By.TAG_NAME, "summary").click()
    assert dog.get_attribute("open") is not None
    assert "detect_objects.counts" in dog.text and "see the frame at" in dog.text
    link = dog.find_element(By.TAG_NAME, "a").get_attribute("href")
    target = link.split("#", 1)[1]
    assert page.find_element(By.ID, target).tag_name == "figure"


def test_hostile_text_is_shown_as_text(page):
    from selenium.webdriver.common.by import By

    body = page.find_element(By.TAG_NAME, "body").text
    assert HOSTILE in body  # the title, as literal text
    assert not page.find_elements(By.TAG_NAME, "script")
    assert not page.find_elements(By.CSS_SELECTOR, "[onerror], [onclick], [onload]")
    errors = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    images = page.find_elements(By.TAG_NAME, "img")
    assert images and all(page.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images)
