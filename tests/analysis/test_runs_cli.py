"""The commands and tables a researcher reads runs with, on a real text-only run (bundled
SmolLM2 and MiniLM): load_run's tables, `m2t runs`, `status` of the latest run, `export`,
`compare`, `baseline` (embedding classifiers, the file hypotheses_nn reads), `ablate`, and
`audit` (its sheet's human verdicts kept when run again; `audit import` refusing another run's
sheet)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from analysis import load_run, metrics
from pipelines.cli import app
from pipelines.config import validate_config
from pipelines.runner import Runner
from tests.conftest import write_manifest

ROWS = [
    {"id": "t1", "title": "World Cup final highlights", "description": "All goals of the final", "split": "train",
     "labels": {"popularity": "global-big-hit"}},
    {"id": "t2", "title": "Town council meeting", "description": "New parking rules in our town", "split": "train",
     "labels": {"popularity": "local-hit"}},
    {"id": "t3", "title": "Official music video", "description": "The new single of a world famous singer",
     "split": "train", "labels": {"popularity": "global-big-hit"}},
    {"id": "t4", "title": "Village bake sale", "description": "Cakes for the school roof", "split": "train",
     "labels": {"popularity": "local-hit"}},
    {"id": "q1", "title": "Minutes of the village council", "description": "Parking and bins", "split": "test",
     "labels": {"popularity": "local-hit"}},
    {"id": "q2", "title": "Football goals of the season", "description": "Best goals", "split": "test",
     "labels": {"popularity": "global-big-hit"}},
    {"id": "q3", "title": "Street party in our lane", "description": "Neighbours and a barbecue", "split": "test",
     "labels": {"popularity": "local-hit"}},
]
LLM = {"backend": "local", "model": "bundled:smollm2-135m-instruct", "max_tokens": 48}


def config(manifest: Path, mode: str = "zero_shot") -> dict:
    return {"name": "study", "task": "popularity", "dataset": {"path": str(manifest)},
            "stages": {"summarize": {}, "embed": {}, "retrieve_similar": {"k": 2},
                       "hypothesize": {"n_hypotheses": 2, "llm": LLM}, "predict": {"mode": mode, "llm": LLM}}}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("study")
    manifest = write_manifest(tmp, ROWS)
    paths = {"tmp": tmp, "runs": tmp / "runs", "cache": tmp / "cache", "yaml": tmp / "study.yaml"}
    paths["yaml"].write_text(yaml.safe_dump(config(manifest), sort_keys=False))
    for run_id, mode in (("zs", "zero_shot"), ("hyp", "hypotheses")):
        Runner(validate_config(config(manifest, mode)), runs_dir=paths["runs"], cache_dir=paths["cache"],
               run_id=run_id, show_progress=False).run()
    return paths


def cli(study: dict, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--runs-dir", str(study["runs"])])
    assert result.exit_code == 0, result.output
    return result.output


def test_load_run_puts_gold_beside_each_prediction(study: dict):
    run = load_run(study["runs"] / "hyp")
    assert "3 predictions" in repr(run) and "7 items" in repr(run)
    preds = run.predictions
    assert preds["item_id"].tolist() == ["q1", "q2", "q3"]
    assert preds["gold"].tolist() == ["local-hit", "global-big-hit", "local-hit"]
    assert preds["correct"].tolist() == [p == g for p, g in zip(preds["predicted"], preds["gold"])]
    assert set(run.items["split"]) == {"train", "test"}
    hypotheses = run.hypotheses
    assert set(hypotheses["item_id"]) == {"q1", "q2", "q3"} and hypotheses["usable"].dtype == bool
    neighbours = run.neighbours
    assert neighbours.groupby("item_id")["rank"].max().tolist() == [2] * 7
    assert not (neighbours["neighbour_id"].isin(["q1", "q2", "q3"])).any()  # only train items are retrieved


def test_messages_are_rendered_from_the_run_without_a_model(study: dict):
    import subprocess
    import sys

    probe = (f"import sys; from analysis import load_run; r = load_run({str(study['runs'] / 'hyp')!r}); "
             "m = r.messages('q2'); print(m[-1][1]); "
             "print('HEAVY', [x for x in ('torch', 'transformers') if x in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "Football goals of the season" in out and "Hypotheses:" in out and "HEAVY []" in out


def test_messages_of_an_item_without_a_prediction_says_why(study: dict):
    run = load_run(study["runs"] / "hyp")
    with pytest.raises(ValueError, match="predict sent no prompt for item 't1' of the train split in run hyp"):
        run.messages("t1")
    with pytest.raises(KeyError, match="no item 'q9' in run hyp"):
        run.messages("q9")


def test_timings_survive_a_resume(study: dict):
    before = load_run(study["runs"] / "hyp").timings.set_index("stage")
    Runner(validate_config(config(Path(load_run(study["runs"] / "hyp").manifest["config"]["dataset"]["path"]),
                                  "hypotheses")),
           runs_dir=study["runs"], cache_dir=study["cache"], run_id="hyp", show_progress=False).run()
    after = load_run(study["runs"] / "hyp").timings.set_index("stage")
    assert after.loc["predict", "seconds"] == before.loc["predict", "seconds"] > 0
    assert after.loc["predict", "last_attempt_seconds"] < before.loc["predict", "seconds"]


def test_runs_lists_every_run_and_status_shows_the_latest(study: dict):
    listing = cli(study, "runs")
    assert "zs" in listing and "hyp" in listing and "completed" in listing
    assert cli(study, "status").splitlines()[0].startswith("hyp ")


def test_export_writes_one_flat_table_per_stage(study: dict, tmp_path: Path):
    for fmt in ("csv", "parquet"):
        cli(study, "export", "hyp", "--format", fmt, "--out", str(tmp_path / fmt))
        for name in ("summarize", "embed", "retrieve_similar", "hypothesize", "predict", "items", "predictions",
                     "hypotheses", "neighbours", "timings"):
            assert (tmp_path / fmt / f"{name}.{fmt}").is_file(), (fmt, name)
    predictions = pd.read_parquet(tmp_path / "parquet" / "predictions.parquet")
    assert predictions["gold"].tolist() == ["local-hit", "global-big-hit", "local-hit"]
    neighbours = pd.read_csv(tmp_path / "csv" / "retrieve_similar.csv")
    assert json.loads(neighbours.loc[0, "neighbours"])[0]["item_id"].startswith("t")


def test_compare_prints_intervals_baseline_and_mcnemar(study: dict):
    text = cli(study, "compare", "zs", "hyp")
    a, b = (load_run(study["runs"] / r).predictions for r in ("zs", "hyp"))
    expected = metrics.mcnemar(a["gold"].tolist(), a["predicted"].tolist(), b["predicted"].tolist())
    assert "3 items predicted by both" in text and "majority baseline" in text
    assert str(metrics.accuracy(a["gold"].tolist(), a["predicted"].tolist())) in text
    assert f"p = {expected.pvalue:.4g}" in text


def test_compare_gives_each_run_its_own_baseline_and_warns_when_train_labels_differ(study: dict, tmp_path: Path):
    rows = [dict(r, labels={"popularity": "local-hit"}) if r["id"] == "t1" else r for r in ROWS]
    manifest = write_manifest(tmp_path, rows)
    Runner(validate_config(config(manifest)), runs_dir=study["runs"], cache_dir=study["cache"], run_id="relabelled",
           show_progress=False).run()
    text = " ".join(cli(study, "compare", "zs", "relabelled").split())
    assert "warning: the runs' train labels differ (2 item labels in one run only)" in text
    gold = load_run(study["runs"] / "zs").predictions["gold"].tolist()
    assert str(metrics.majority_baseline(["global-big-hit"], gold)) in text  # zs: 2 and 2, a tie: sorted first
    assert str(metrics.majority_baseline(["local-hit"], gold)) in text
    assert "zs: always global-big-hit (4 train labels); relabelled: always local-hit (4 train labels)" in text


def test_baseline_writes_the_file_hypotheses_nn_reads(study: dict, tmp_path: Path):
    target = tmp_path / "nn.csv"
    text = cli(study, "baseline", "hyp", "--out", str(target))
    assert "logreg on embeddings" in text and "LLM + mlp vote" in text and "majority class" in text
    written = pd.read_csv(target)
    assert sorted(written["item_id"]) == ["q1", "q2", "q3"]
    assert set(written["label"]) <= {"local-hit", "global-big-hit"} and written["confidence"].between(0.5, 1).all()
    cfg = config(Path(load_run(study["runs"] / "hyp").manifest["config"]["dataset"]["path"]), "hypotheses_nn")
    cfg["stages"]["predict"]["nn_predictions"] = str(target)
    rendered = CliRunner().invoke(app, ["render", "predict", "-n", "3", "--runs-dir", str(study["runs"]),
                                        "--run-id", "hyp", "--set", "predict.mode=hypotheses_nn",
                                        "--set", f"predict.nn_predictions={target}", str(study["yaml"])])
    assert rendered.exit_code == 0, rendered.output
    for label in written["label"]:
        assert f"Supervised network prediction: {label}" in rendered.output


def test_ablate_prints_each_variant_with_flips(study: dict):
    result = CliRunner().invoke(app, ["ablate", str(study["yaml"]), "--variant", "title only", "--runs-dir",
                                      str(study["runs"]), "--cache-dir", str(study["cache"])])
    assert result.exit_code == 0, result.output
    assert "full" in result.output and "title only" in result.output and "flips vs full" in result.output
    assert "majority" in result.output  # the baseline row (its name folds in an 80-column terminal)
    variants = [d for d in study["runs"].iterdir() if (d / "manifest.json").is_file()]
    ablated = [load_run(d) for d in variants if load_run(d).manifest["config"]["stages"]["summarize"]["ablation"]
               ["metadata"] == "title_only"]
    assert ablated and all("Description" not in t for t in ablated[0]["summarize"]["text"])


def _sheet(study: dict, run_id: str) -> Path:
    return study["runs"] / run_id / "audit" / "claims.csv"


def test_audit_keeps_every_human_verdict_when_run_again(study: dict):
    cli(study, "audit", "hyp")
    path = _sheet(study, "hyp")
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(sheet) > 0 and set(sheet["run_id"]) == {"hyp"} and sheet["claim_id"].is_unique
    filled = sheet.assign(human_verdict=["contradicted" if v == "supported" else "supported" for v in sheet["verdict"]],
                          human_note="seen", reviewer="ana")
    filled.to_csv(path, index=False)
    for args in ((), ("--by", "target"), ("--by", "type")):
        text = cli(study, "audit", "hyp", *args)
        assert f"kept {len(sheet)} human verdicts of the existing sheet" in text
        again = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert list(again["claim_id"]) == list(sheet["claim_id"])
        assert list(again["human_verdict"]) == list(filled["human_verdict"])
        assert set(again["human_note"]) == {"seen"} and set(again["reviewer"]) == {"ana"}


def test_audit_import_refuses_another_runs_sheet(study: dict, tmp_path: Path):
    cli(study, "audit", "zs")
    cli(study, "audit", "hyp")
    sheets = {}
    for run_id in ("zs", "hyp"):
        sheet = pd.read_csv(_sheet(study, run_id), dtype=str, keep_default_na=False)
        sheets[run_id] = sheet.assign(human_verdict=sheet["verdict"])
    elsewhere = tmp_path / "claims.csv"
    sheets["hyp"].to_csv(elsewhere, index=False)
    assert f"sheet {elsewhere} of run hyp:" in cli(study, "audit", "import", str(elsewhere))
    misplaced = _sheet(study, "zs").with_name("from-hyp.csv")  # in zs's folder: taken as zs's
    sheets["hyp"].to_csv(misplaced, index=False)
    mixed = tmp_path / "mixed.csv"
    pd.concat([sheets["zs"], sheets["hyp"]]).to_csv(mixed, index=False)
    for args, words in (((str(elsewhere), "--run", "zs"), ("run hyp", "not of run zs")),
                        ((str(misplaced),), ("run hyp", "not of run zs")),
                        ((str(mixed),), ("mixes the claims of runs hyp, zs",))):
        result = CliRunner().invoke(app, ["audit", "import", *args, "--runs-dir", str(study["runs"])])
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert args[0] in lines[0] and all(w in lines[0] for w in words), lines[0]
