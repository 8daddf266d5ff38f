"""The gold label never reaches the model's text (pipelines/leakage.py, summarize).

Before, every manifest column that was not a known one went into ``metadata`` and summarize
wrote all metadata into the text: a CSV column holding the label (or the view count that
defines it) reached every prompt, test items included."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.config import validate_config
from pipelines.errors import ConfigError
from pipelines.leakage import carries_label
from pipelines.runner import Runner
from tests.conftest import ROOT

ROWS = [
    ("a1", "train", "local-hit", "Town council meeting", "Local Hit", 1200),
    ("a2", "train", "global-big-hit", "World Cup final", "global big hit", 9_000_000),
    ("a3", "train", "local-hit", "Village fair", "local_hit", 800),
    ("b1", "test", "global-big-hit", "Pop star single", "Global-Big-Hit", 5_000_000),
    ("b2", "test", "local-hit", "School concert", "local hit", 300),
]


def write_csv(folder: Path) -> Path:
    path = folder / "manifest.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "split", "labels.popularity", "title", "answer", "views", "channel"])
        for row in ROWS:
            writer.writerow([*row, "my channel"])
    return path


def config(manifest: Path, fields: list[str]) -> dict:
    return {"name": "leak", "task": "popularity", "dataset": {"path": str(manifest)},
            "stages": {"summarize": {"metadata_fields": fields}}}


def test_a_shown_field_carrying_the_label_is_refused_by_name(tmp_path: Path):
    manifest = write_csv(tmp_path)
    with pytest.raises(ConfigError, match=r"metadata field 'answer' contains the gold popularity label for 5 of 5"):
        Runner(validate_config(config(manifest, ["channel", "answer"])), runs_dir=tmp_path / "runs",
               cache_dir=tmp_path / "cache", show_progress=False).run()
    # the command line says it in one line and exits 2, before any work
    cfg = tmp_path / "leak.yaml"
    cfg.write_text(f"name: leak\ntask: popularity\ndataset: {{path: {manifest}}}\n"
                   "stages:\n  summarize: {metadata_fields: [channel, answer]}\n")
    out = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", str(cfg), "--runs-dir", str(tmp_path / "runs"),
                          "--cache-dir", str(tmp_path / "cache"), "--no-progress"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    (error,) = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert "'answer' contains the gold popularity label" in error
    assert not list((tmp_path / "runs").glob("*/records"))


def test_label_defining_fields_are_refused_even_when_named(tmp_path: Path):
    with pytest.raises(ConfigError, match="'views' define the popularity label"):
        validate_config(config(write_csv(tmp_path), ["views"]))


def test_without_the_column_no_gold_label_reaches_any_summary(tmp_path: Path):
    manifest = write_csv(tmp_path)
    result = Runner(validate_config(config(manifest, ["channel"])), runs_dir=tmp_path / "runs",
                    cache_dir=tmp_path / "cache", show_progress=False).run()
    assert result.exit_code == 0
    gold = {i: label for i, _, label, *_ in ROWS}
    assert {i.item_id: i.labels["popularity"] for i in result.items} == gold  # `labels.popularity` is the label
    for item_id, record in result.records["summarize"].items():
        assert "my channel" in record.text
        for spelling in ("local", "global", "hit", "1200", "9000000", "5000000"):
            assert spelling not in record.text.casefold(), (item_id, record.text)
    assert result.hidden_fields == ["answer", "views"]
    assert "not shown to the model: answer, views" in result.summary_line()


def test_a_title_that_names_the_label_is_refused(tmp_path: Path):
    rows = tmp_path / "m.jsonl"
    rows.write_text("".join(
        f'{{"id": "{i}", "split": "train", "title": "{label.replace("-", " ").title()} compilation", '
        f'"labels": {{"popularity": "{label}"}}}}\n' for i, label in enumerate(["local-hit", "global-big-hit"] * 2)))
    with pytest.raises(ConfigError, match="title contains the gold popularity label for 4 of 4"):
        Runner(validate_config(config(rows, [])), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
               show_progress=False).run()


def test_carries_label_compares_words_not_substrings():
    assert carries_label("This was a LOCAL HIT!", ["local-hit"])
    assert carries_label("global_big_hit", ["global-big-hit"])
    assert not carries_label("a global big hitter", ["global-big-hit"])
    assert not carries_label("chapter 1 of 3", ["1"])  # short labels must match the whole value
    assert carries_label(" 1 ", ["1"])
