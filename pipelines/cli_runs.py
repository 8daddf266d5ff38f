"""The ``m2t`` commands that read runs: ``runs``, ``export``, ``compare``, ``report``, ``ablate``,
``baseline``.

They read run directories through ``analysis`` (imported lazily, the one place ``pipelines``
uses it) and print tables with rich; ``ablate`` also runs the ablation variants of a config.
Registered on the main app by ``pipelines.cli`` (:func:`register`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from pipelines.cli_common import (
    CacheDir,
    RunsDir,
    _fail,
    _out_file,
    _out_folder,
    _resolve_run,
    _watch_damage,
    _write_failed,
    err,
    out,
)
from pipelines.errors import M2TError

# the variants `m2t ablate` runs by default: one switch of summarize.ablation each
VARIANTS = {
    "no frames": "frames=none",
    "shuffled frames": "frames=shuffled",
    "blank frames": "frames=blank",
    "no speech": "speech=none",
    "no on-screen text": "onscreen_text=none",
    "no visual facts": "visual_facts=none",
    "title only": "metadata=title_only",
}


def run_dirs(runs_dir: Path) -> list[Path]:
    """Run directories under ``runs_dir``, oldest first (by start time, else folder time)."""
    if not runs_dir.is_dir():
        return []
    found = []
    for manifest in runs_dir.glob("*/manifest.json"):
        try:
            started = json.loads(manifest.read_text()).get("started_at") or ""
        except (OSError, ValueError):
            started = ""
        found.append((started, manifest.stat().st_mtime, manifest.parent))
    return [d for _, _, d in sorted(found)]


def runs(runs_dir: RunsDir = Path("data/runs")) -> None:
    """List the runs in --runs-dir: id, config, dataset, status, items, predictions, when. The
    status is derived as `m2t status` derives it (RunStore.state); a run whose manifest is
    unreadable is listed as damaged."""
    from pipelines.store import DamagedRunError, RunStore

    _watch_damage()
    dirs = run_dirs(runs_dir)
    if not dirs:
        _fail(f"no runs in {runs_dir} (start one with `m2t run CONFIG`)")
    table = Table()
    table.add_column("run", no_wrap=True)
    for col in ("config", "dataset", "status", "items", "predictions", "started"):
        table.add_column(col, overflow="fold")
    for d in dirs:
        store = RunStore(d)
        try:
            m = store.read_manifest()
        except DamagedRunError as exc:
            from rich.markup import escape

            err.print(f"[yellow]warning:[/] {escape(str(exc))}", highlight=False)
            table.add_row(d.name, "?", "?", "damaged", "?", "?", "?")
            continue
        dataset = ((m.get("config") or {}).get("dataset") or {}).get("path") or "?"
        predicted = len(store.current_records("predict")) if "predict" in store.stages_with_records() else 0
        table.add_row(d.name, str(m.get("config_name", "?")), str(dataset), store.state(m),
                      str(m.get("items", "?")), str(predicted), str(m.get("started_at", "?"))[:19])
    out.print(table)


def export(
    run: Annotated[str, typer.Argument(help="run id (in --runs-dir) or a run directory")],
    format_: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="folder (default: <run>/export)")] = None,
    runs_dir: RunsDir = Path("data/runs"),
) -> None:
    """Write one table per stage, plus items, predictions, hypotheses and neighbours, as CSV or
    Parquet. Nested fields (lists, objects) become JSON text so every table is flat."""
    from analysis import load_run

    if format_ not in ("csv", "parquet"):
        _fail(f"unknown format {format_!r}; use csv or parquet")
    data = load_run(_resolve_run(run, runs_dir))
    target = _out_folder(out_dir or data.path / "export")
    tables = {**data.stages, "items": data.items.drop(columns=["item"], errors="ignore"),
              "predictions": data.predictions, "hypotheses": data.hypotheses, "neighbours": data.neighbours,
              "timings": data.timings, "errors": data.errors}
    written = []
    for name, frame in tables.items():
        flat = frame.copy()
        for col in flat.columns:
            if flat[col].map(lambda v: isinstance(v, (list, dict, tuple))).any():
                flat[col] = flat[col].map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict, tuple))
                                          else v)
        path = target / f"{name}.{format_}"
        try:
            if format_ == "csv":
                flat.to_csv(path, index=False)
            else:
                flat.astype({c: "string" for c in flat.columns if flat[c].dtype == object}).to_parquet(path, index=False)
        except OSError as exc:
            _write_failed(path, exc)
        written.append(f"{name} ({len(flat)})")
    out.print(f"wrote {len(written)} tables to {target}: {', '.join(written)}", highlight=False, soft_wrap=True)


def compare(
    run_a: Annotated[str, typer.Argument(help="first run (id or directory)")],
    run_b: Annotated[str, typer.Argument(help="second run (id or directory)")],
    runs_dir: RunsDir = Path("data/runs"),
) -> None:
    """Metrics of two runs on the items both predicted, with 95 % intervals, each run's own
    majority baseline (from its own train labels), and McNemar's exact test of the difference
    in accuracy. Warns when the runs' items or train labels differ, or when they were computed
    in different numerics environments."""
    from analysis import load_run, metrics
    from pipelines.numerics import differences

    a, b = (load_run(_resolve_run(r, runs_dir)) for r in (run_a, run_b))

    def warn(text: str) -> None:
        out.print(f"warning: {text}", highlight=False, soft_wrap=True)

    numerics = differences(a.manifest.get("numerics"), b.manifest.get("numerics"))
    if numerics:
        warn(f"runs {a.run_id} and {b.run_id} were computed in different numerics environments "
             f"({'; '.join(numerics)}): their records may differ in the last bits, and greedy answers in words")
    pa, pb = (r.predictions.dropna(subset=["gold"]).set_index("item_id") for r in (a, b))
    common = sorted(set(pa.index) & set(pb.index))
    if not common:
        _fail(f"runs {a.run_id} and {b.run_id} have no labelled predicted item in common")
    only_a, only_b = len(set(pa.index) - set(common)), len(set(pb.index) - set(common))
    if only_a or only_b:
        warn(f"the runs predicted different items ({only_a} only in {a.run_id}, {only_b} only in {b.run_id}): "
             f"the metrics below are on the {len(common)} both predicted")
    trains = [r.items[r.items["split"] == "train"].set_index("item_id")["gold"].dropna().to_dict() for r in (a, b)]
    if trains[0] != trains[1]:
        differ = len(set(trains[0].items()) ^ set(trains[1].items()))
        warn(f"the runs' train labels differ ({differ} item labels in one run only): each run's majority baseline "
             "is its own, and retrieval drew on other examples")
    gold = pa.loc[common, "gold"].tolist()
    labels = sorted(set(a.task_labels) | set(b.task_labels))
    table = Table(title=f"{len(common)} items predicted by both")
    table.add_column("metric")
    for col in (a.run_id, b.run_id):
        table.add_column(col, no_wrap=True)
    for name, fn in (("accuracy", metrics.accuracy), ("balanced accuracy", metrics.balanced_accuracy),
                     ("macro F1", lambda g, p: metrics.macro_f1(g, p, labels=labels))):
        table.add_row(name, str(fn(gold, pa.loc[common, "predicted"].tolist())),
                      str(fn(gold, pb.loc[common, "predicted"].tolist())))
    bases = [metrics.majority_baseline(list(train.values()) or gold, gold) for train in trains]
    table.add_row("majority baseline", *(str(base) for base in bases))
    if len(common) < metrics.SMALL_N:
        table.caption = f"small n: fewer than {metrics.SMALL_N} items; read the intervals, not the points"
    out.print(table)
    out.print("majority baselines, each from its run's own train labels: " + "; ".join(
        f"{run.run_id}: always {metrics.majority_label(list(train.values()) or gold)} ({len(train)} train labels)"
        for run, train in zip((a, b), trains)), highlight=False, soft_wrap=True)
    test = metrics.mcnemar(gold, pa.loc[common, "predicted"].tolist(), pb.loc[common, "predicted"].tolist())
    flips = sum(x != y for x, y in zip(pa.loc[common, "predicted"], pb.loc[common, "predicted"]))
    out.print(f"McNemar exact: right only in {a.run_id}: {test.a_only}, only in {b.run_id}: {test.b_only}, "
              f"p = {test.pvalue:.4g}; labels that differ: {flips}/{len(common)}", highlight=False, soft_wrap=True)


def report(
    runs_: Annotated[list[str], typer.Argument(metavar="RUN...", help="run ids or directories")],
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="folder (default: <first run>/report)")] = None,
    runs_dir: RunsDir = Path("data/runs"),
) -> None:
    """One self-contained HTML report of the runs (metrics with intervals, plots, every
    predicted item with its frames, text, neighbours, hypotheses and explanation), plus the
    tables as CSV and Markdown."""
    from analysis import load_run
    from analysis.report import write_report

    dirs = [_resolve_run(r, runs_dir) for r in runs_]
    folder = _out_folder(out_dir or dirs[0] / "report")
    loaded = [load_run(d) for d in dirs]  # what a damaged file cost is said here, once per run
    try:
        path = write_report(loaded, folder)
    except OSError as exc:
        _write_failed(folder, exc)
        return
    out.print(f"wrote {path} (and metrics.csv, metrics.md, predictions.csv beside it)", highlight=False)


def ablate(
    config: Annotated[Path, typer.Argument(help="case-study YAML")],
    variant: Annotated[Optional[list[str]], typer.Option(
        "--variant", help="only these variants (repeatable): " + ", ".join(f"'{k}'" for k in VARIANTS))] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override a config key (repeatable)")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="first N items of each split")] = None,
    runs_dir: RunsDir = Path("data/runs"),
    cache_dir: CacheDir = Path("data/cache"),
) -> None:
    """Run CONFIG in full and under each modality ablation of its text representation
    (summarize.ablation), then print per variant the metrics with 95 % intervals and the
    share of predictions that flip against the full run. Every variant is a normal run
    (resumable, cached); only stages downstream of summarize are recomputed."""
    from analysis import load_run
    from pipelines.config import load_config
    from pipelines.runner import Runner

    unknown = [v for v in variant or [] if v not in VARIANTS]
    if unknown:
        _fail(f"unknown variant {unknown[0]!r}; variants: {', '.join(VARIANTS)}")
    chosen = {"full": None, **{k: v for k, v in VARIANTS.items() if not variant or k in variant}}
    results: dict[str, Any] = {}
    for name, switch in chosen.items():
        overrides = [*(set_ or []), *([f"summarize.ablation.{switch}"] if switch else [])]
        try:
            cfg = load_config(config, overrides)
            if "predict" not in cfg.stages:
                _fail(f"{config.name} has no predict stage: nothing to ablate")
            err.print(f"[bold]{name}[/] ({switch or 'the full text'})", highlight=False)
            result = Runner(cfg, runs_dir=runs_dir, cache_dir=cache_dir, limit=limit, show_progress=False,
                            console=err).run()
        except M2TError as exc:
            _fail(str(exc))
            return
        results[name] = load_run(result.run_dir)
    import pandas as pd

    from analysis.ablations import ablation_table

    frame = ablation_table(list(results.values()))
    names = {r.run_id: name for name, r in results.items()}
    table = Table(title="modality ablations (95 % bootstrap intervals)")
    table.add_column("variant", overflow="fold")
    for col in ("n", "accuracy", "macro F1", "flips vs full"):
        table.add_column(col, no_wrap=True)

    def interval(row: dict[str, Any], name: str) -> str:
        if pd.isna(row.get(name)):
            return "-"
        return f"{row[name]:.3f} [{row[name + '_low']:.3f}, {row[name + '_high']:.3f}]"

    for row in frame.to_dict("records"):
        run_id = None if pd.isna(row["run_id"]) else row["run_id"]
        flips = "-" if not run_id or names.get(run_id) == "full" else \
            f"{int(row['flips'])}/{int(row['compared'])} ({row['flips'] / max(row['compared'], 1):.0%})"
        table.add_row(names.get(run_id, row["variant"]) if run_id else row["variant"], str(row["n"]),
                      interval(row, "accuracy"), interval(row, "macro_f1"), flips)
    out.print(table)
    out.print("runs: " + "; ".join(f"{name} {r.run_id}" for name, r in results.items()), highlight=False,
              soft_wrap=True)


def baseline(
    run: Annotated[str, typer.Argument(help="run id (in --runs-dir) or a run directory, with embed records")],
    model: Annotated[str, typer.Option(help="classifier whose predictions are written: logreg or mlp")] = "logreg",
    out_file: Annotated[Optional[Path], typer.Option("--out", help="predictions CSV (default: "
                                                                   "<run>/nn_predictions_<model>.csv)")] = None,
    runs_dir: RunsDir = Path("data/runs"),
) -> None:
    """Fit classifiers on the text embeddings of the train split (logistic regression, a small
    MLP), print them beside the LLM, the majority class and their vote with the LLM (accuracy
    and macro-F1 with 95 % intervals), and write MODEL's predictions as the file
    predict.nn_predictions reads (mode hypotheses_nn)."""
    from analysis import load_run
    from analysis.baselines import MODELS, comparison_table, fit_embedding_classifier, write_nn_predictions

    if model not in MODELS:
        _fail(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    data = load_run(_resolve_run(run, runs_dir))
    target = _out_file(out_file or data.path / f"nn_predictions_{model}.csv")
    try:
        fitted = fit_embedding_classifier(data, model)
        table_frame = comparison_table(data) if not data.predictions.dropna(subset=["gold"]).empty else None
    except ValueError as exc:
        _fail(str(exc))
        return
    try:
        path = write_nn_predictions(fitted.predictions, target)
    except OSError as exc:
        _write_failed(target, exc)
        return
    if table_frame is not None:
        table = Table(title=f"{data.run_id}: the LLM and the baselines (95 % bootstrap intervals)")
        table.add_column("method", no_wrap=True)
        for col in ("n", "accuracy", "macro F1", "note"):
            table.add_column(col, overflow="fold")
        for r in table_frame.to_dict("records"):
            table.add_row(r["method"], str(r["n"]), f"{r['accuracy']:.3f} [{r['accuracy_low']:.3f}, {r['accuracy_high']:.3f}]",
                          f"{r['macro_f1']:.3f} [{r['macro_f1_low']:.3f}, {r['macro_f1_high']:.3f}]", r["note"])
        out.print(table)
    out.print(f"wrote {len(fitted.predictions)} {model} predictions to {path} "
              f"(use: --set predict.mode=hypotheses_nn --set predict.nn_predictions={path})", highlight=False,
              soft_wrap=True)


def audit(
    run: Annotated[str, typer.Argument(help="run id (in --runs-dir) or a run directory; or `import` and a sheet")],
    sheet: Annotated[Optional[Path], typer.Argument(help="with `import`: a claims.csv with human_verdict filled in",
                                                    show_default=False)] = None,
    target: Annotated[Optional[list[str]], typer.Option(
        "--target", help="texts to audit, e.g. predict.explanation, analyse_film.analysis, "
                         "describe_frames.descriptions, hypothesize.hypotheses (repeatable; default: all present)")] = None,
    by: Annotated[str, typer.Option(help="rates per: type (of claim), target (text) or student")] = "type",
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="folder for the sheet (default: <run>/audit)")] = None,
    of_run: Annotated[Optional[str], typer.Option(
        "--run", help="with `import`: the run the sheet must be of (default: the run whose folder holds it)",
        show_default=False)] = None,
    runs_dir: RunsDir = Path("data/runs"),
) -> None:
    """Check every claim of the run's generated texts against the videos' own evidence: print,
    per audited text (the frame descriptions composed from the measurements apart), the claim
    precision and hallucination rate per claim type (with 95 % intervals) and object
    hallucination (CHAIR), and write claims.csv, one row per claim, with columns for human
    verdicts. An existing claims.csv is merged, never overwritten: the human columns of every
    claim still there are kept, claims no longer produced stay, marked stale. Rule-based: no
    model is loaded.

    `m2t audit import SHEET` reads a sheet with people's verdicts and reports their agreement
    with the automatic ones: Cohen's κ, the confusion table, and agreement per claim type. It
    refuses a sheet of another run than --run (or the run whose folder holds it) and a sheet
    mixing runs."""
    from pydantic import ValidationError

    from analysis.audit import SheetError, chair, claims_table, compare_students, human_verdicts, rates
    from analysis.metrics import SMALL_N
    from pipelines.audit.run_audit import audit_run

    if run == "import":
        import_sheet(sheet, of_run, runs_dir)
        return
    if of_run is not None:
        _fail("--run names the run of a sheet for `m2t audit import SHEET --run RUN`; to audit a run: m2t audit RUN")

    path = _resolve_run(run, runs_dir)
    if by not in ("type", "target", "student"):
        _fail(f"--by {by!r}: use type, target or student")
    folder = _out_folder(out_dir or path / "audit")
    try:
        records = audit_run(path, list(target) if target else None)
    except ValidationError as exc:  # an unknown --target
        _fail(f"--target: {exc.errors()[0]['msg'].removeprefix('Value error, ')}")
    from analysis import load_run

    data = load_run(path)
    dumped = [{**r.model_dump(mode="json"), "run_id": data.run_id} for r in records]
    table = claims_table(dumped)
    if table.empty:
        _fail(f"run {path.name} has no generated text to audit (predict, analyse_film, describe_frames or "
              "hypothesize records)")
    summary = rates(table, by)

    def pct(value: Any, ci: Any, small: bool = False) -> str:
        if value is None or value != value:
            return "-"
        return f"{value:.0%} [{ci[0]:.0%}, {ci[1]:.0%}]{'*' if small else ''}"

    from rich.markup import escape

    # one table per audited text (by type), or one row per text or student; never a row across texts
    groups = list(summary.groupby("text", sort=False)) if by == "type" else [("", summary)]
    for text, part in groups:
        composed = bool(len(part)) and bool(part.composed.iloc[0])
        title = (f"{text}{' (composed from the measurements: true by construction, apart)' if composed else ''} — "
                 if text else "") + f"claims of run {path.name}, 95 % intervals"
        shown = Table(title=escape(title), title_justify="left")  # "[text]" of a student is not markup
        for col in (by, "claims", "supported", "contradicted", "unsupported", "unverifiable", "precision",
                    "hallucination"):
            shown.add_column(col, justify="left" if col == by else "right")
        for row in part.to_dict("records"):
            shown.add_row(escape(str(row[by])), str(row["claims"]), str(row["supported"]), str(row["contradicted"]),
                          str(row["unsupported"]), str(row["unverifiable"]),
                          pct(row["precision"], row["precision_ci"], row["small_n"]),
                          pct(row["hallucination"], row["hallucination_ci"], row["small_n"]))
        out.print(shown)
    out.print("precision: supported / verifiable; hallucination: (contradicted + unsupported) / verifiable; "
              "unsupported: the text says the video shows or is about something found nowhere in its evidence",
              highlight=False, soft_wrap=True)
    if any(row["small_n"] and row["precision"] is not None for row in summary.to_dict("records")):
        out.print(f"* small n: fewer than {SMALL_N} verifiable claims: read the interval rather than the rate",
                  highlight=False)
    for objects in chair(table).to_dict("records"):
        if objects["item_id"] == "all" and objects["object_claims"]:
            out.print(f"object hallucination (CHAIR) in {objects['text']}: {objects['absent']} of "
                      f"{objects['object_claims']} object claims name an object detected in no sampled frame "
                      f"({pct(objects['chair'], objects['chair_ci'])}{', small n' if objects['small_n'] else ''})",
                      highlight=False, soft_wrap=True, markup=False)
    students = compare_students(table)
    if not students.empty:
        compared = Table(title="film students on the same clips (the paired row: per-clip difference in hallucination "
                               "rate; * small n)", title_justify="left")
        for col in ("student", "clips", "claims", "precision", "hallucination", "CHAIR"):
            compared.add_column(col, justify="left" if col == "student" else "right")
        for row in students.to_dict("records"):
            paired = "paired" in row["student"]
            compared.add_row(row["student"], str(row["clips"]), "-" if paired else str(int(row["claims"])),
                             "-" if paired else pct(row["precision"], row["precision_ci"], row["small_n"]),
                             (f"{row['hallucination']:+.0%} [{row['hallucination_ci'][0]:+.0%}, "
                              f"{row['hallucination_ci'][1]:+.0%}]{'*' if row['small_n'] else ''}"
                              if paired and row["hallucination"] is not None
                              else pct(row["hallucination"], row["hallucination_ci"], row["small_n"])),
                             "-" if paired else pct(row["chair"], row["chair_ci"], row["chair_small_n"]))
        out.print(compared)
    from analysis.audit_report import write_audit_report

    existed = (folder / "claims.csv").is_file()
    try:
        written = write_audit_report(data, dumped, folder)
    except SheetError as exc:
        _fail(str(exc))
        return
    except OSError as exc:
        _write_failed(folder, exc)
        return
    out.print(f"wrote {written['html']} (the marked texts) and {written['sheet']} ({len(table)} claims of run "
              f"{data.run_id}; fill in human_verdict, then `m2t audit import`)", highlight=False, soft_wrap=True)
    if existed:
        kept = human_verdicts(written["sheet"])
        stale = f" ({kept['stale']} on claims this audit no longer produces, marked stale)" if kept.get("stale") else ""
        out.print(f"kept {sum(kept.values())} human verdicts of the existing sheet{stale}", highlight=False,
                  soft_wrap=True)


def _run_id(run_dir: Path) -> str:
    """A run's id as ``load_run`` reads it: the manifest's, else the folder's name."""
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    return str(manifest.get("run_id") or run_dir.name)


def import_sheet(sheet: Path | None, of_run: str | None = None, runs_dir: Path = Path("data/runs")) -> None:
    """Agreement of human verdicts in ``sheet`` with the automatic ones (``m2t audit import``), on
    the sheet's one run: ``of_run`` if given, else the run whose folder holds the sheet
    (``<run>/audit/claims.csv``), else whichever run the sheet names. Claims marked stale (no
    longer produced by the audit) are left out and counted."""
    from analysis.audit import STALE, SheetError, human_agreement, read_sheet, sheet_run

    if sheet is None or not sheet.is_file():
        _fail(f"give the filled-in sheet: m2t audit import <run>/audit/claims.csv (not found: {sheet})")
        return
    home = sheet.resolve().parent.parent
    expected = _run_id(_resolve_run(of_run, runs_dir)) if of_run else (
        _run_id(home) if (home / "manifest.json").is_file() else None)
    try:
        read = read_sheet(sheet)
        run_id = sheet_run(read, sheet, expected)
        stale = read[read.status == STALE]
        kappa, confusion, per_type = human_agreement(read[read.status != STALE])
    except SheetError as exc:
        _fail(str(exc))
        return
    except ValueError as exc:
        _fail(f"{sheet}: {exc}")
        return
    rated = int(confusion.to_numpy().sum())
    left_out = int((stale.human_verdict != "").sum())
    note = f" ({left_out} on claims no longer produced, marked stale, left out)" if left_out else ""
    out.print(f"sheet {sheet} of run {run_id}: {rated} claims with a human verdict{note}; Cohen's kappa (human vs "
              f"automatic) = {kappa:.3f}", highlight=False, soft_wrap=True)
    table = Table(title="human (rows) vs automatic (columns)", title_justify="left")
    table.add_column("human")
    for col in confusion.columns:
        table.add_column(str(col), justify="right")
    for name, row in confusion.iterrows():
        table.add_row(str(name), *(str(int(v)) for v in row))
    out.print(table)
    types = Table(title="per claim type", title_justify="left")
    for col in ("type", "n", "agreement", "kappa"):
        types.add_column(col, justify="left" if col == "type" else "right")
    for row in per_type.to_dict("records"):
        types.add_row(row["type"], str(row["n"]), f"{row['agreement']:.0%}",
                      "-" if row["kappa"] != row["kappa"] else f"{row['kappa']:.2f}")
    out.print(types)


def register(app: typer.Typer) -> None:
    """Adds these commands to the ``m2t`` app."""
    for name, fn in (("runs", runs), ("export", export), ("compare", compare), ("report", report), ("ablate", ablate),
                     ("baseline", baseline), ("audit", audit)):
        app.command(name)(fn)
