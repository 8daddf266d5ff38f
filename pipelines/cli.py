"""The ``m2t`` command line (typer + rich).

Exit codes: 0 every item succeeded; 3 some items failed (the run is saved; run the same
command again to retry them); 2 the command could not start (bad config, missing manifest,
run in use); 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from pipelines.budget import excerpt
from pipelines.cli_common import CacheDir, RunsDir, _fail, _resolve_run, err, out
from pipelines.errors import M2TError, first_line

EXIT_INTERRUPTED = 130

app = typer.Typer(
    help="m2t: turn videos into text, then predict and explain with a language model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Sample data: generate the bundled sample set.", no_args_is_help=True)
app.add_typer(data_app, name="data")
prompts_app = typer.Typer(help="Prompt files and their lock (prompts/LOCK.json).", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")

@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="case-study YAML, e.g. pipelines/configs/popularity.yaml")],
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="override a config key, e.g. --set extract_frames.num_frames=4 (repeatable)"),
    ] = None,
    limit: Annotated[Optional[int], typer.Option(
        min=1, help="process only the first N items of each split (manifest order), so a trial keeps "
                    "both labelled train items and test items")] = None,
    run_id: Annotated[
        Optional[str], typer.Option(help="run directory name; default <config name>-<config hash>, so the same command resumes")
    ] = None,
    runs_dir: RunsDir = Path("data/runs"),
    cache_dir: CacheDir = Path("data/cache"),
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    debug: Annotated[bool, typer.Option(help="full tracebacks in errors")] = False,
    executor: Annotated[Optional[str], typer.Option(
        help="local (this process) or ray (a pool of Ray actors per stage: pip install 'm2t\\[ray]'); "
             "default: the config's run.executor")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="print items x stages, what is already done or cached, the estimated wall time per "
                          "stage, and LLM requests, tokens and cost (llm.prices) per stage and model; run nothing "
                          "(no model loaded, no server asked)")] = False,
) -> None:
    """Run a case study over its dataset; re-running the same command resumes it.

    Exit codes: 0 every item done; 3 some items failed (reasons in the table and the run's
    *.errors.jsonl); 2 the run could not start (bad config or dataset); 1 an unexpected error.
    """
    from pipelines.config import load_config
    from pipelines.runner import Runner
    from pipelines.stages import get_stage
    from pipelines.store import RunLockedError

    try:
        cfg = load_config(config, [*(set_ or []), *([f"run.executor={executor}"] if executor else [])])
        runner = Runner(
            cfg, runs_dir=runs_dir, cache_dir=cache_dir, run_id=run_id, limit=limit,
            show_progress=progress,
            debug=debug, console=err,
        )
        if dry_run:
            _print_estimate(runner)
            return
        err.print(f"run [bold]{runner.run_id}[/] -> {runner.store.dir}", highlight=False)
        result = runner.run()
    except (M2TError, RunLockedError) as exc:
        if debug:
            raise
        _fail(str(exc))
        return
    except KeyboardInterrupt:
        err.print("interrupted: finished batches are saved; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # a bug, not a bad input: say so in one line, traceback on request
        if debug:
            raise
        _fail(f"unexpected {type(exc).__name__}: {first_line(exc, 300) if str(exc).strip() else ''} "
              "(finished batches are saved; rerun with --debug for the traceback and please report it)", code=1)
        return

    _print_stage_table(result)
    _print_items(result)
    for name in cfg.stages:  # what each stage's records say, as the stage itself summarises them
        if (summary := get_stage(name).summary) is not None:
            summary(result, cfg, out)
    _print_usage(result.run_dir)
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    colour = "green" if result.exit_code == 0 and not result.warnings else "yellow"
    out.print(f"[{colour}]{result.summary_line()}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(result.exit_code)


def _print_usage(run_dir: Path) -> None:
    """What the LLM calls took, per stage and model (``stats.json``'s ``llm_usage``), beside
    what the estimate made at the run's start expected (``llm_estimate``)."""
    from pipelines.estimate import usage_with_estimate
    from pipelines.store import RunStore

    stats = RunStore(run_dir).read_stats()
    for line in usage_with_estimate(stats.get("llm_usage") or {}, stats.get("llm_estimate")):
        out.print(f"LLM {line}", highlight=False, soft_wrap=True, markup=False)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _print_estimate(runner: Any) -> None:
    """The dry run's table: per stage, what is done, cached, to compute, and its cost as a
    range around a point; LLM stages show calls per item × seconds per call (``pipelines/estimate.py``)."""
    from pipelines.estimate import totals

    items, load_errors, estimates = runner.dry_run()
    table = Table(title=f"dry run of {runner.run_id}: {len(items)} items ({len(load_errors)} could not be loaded), "
                        "nothing is run", title_justify="left")
    for col in ("stage", "items", "done", "cached", "to run", "est. time", "range", "per item", "LLM tokens in / out"):
        table.add_column(col, justify="left" if col == "stage" else "right", no_wrap=col in ("stage", "range"))

    def k(n: float) -> str:
        return f"{n / 1000:.0f}k" if n >= 10_000 else f"{n:,.0f}"

    for e in estimates.values():
        to_run = f"{e.to_compute}" + (f" +{e.unknown}?" if e.unknown else "")
        measured = " m" if e.rate_from.startswith("measured") else ""
        if e.llm_requests and e.work:
            per_item = f"{e.calls_per_item:.1f}×{e.seconds_per_call:.1f} s{measured}"
        else:
            per_item = f"{e.ms_per_item / 1000:.2f} s{measured}"
        table.add_row(e.stage, str(e.items), str(e.done), str(e.cached), to_run, _duration(e.seconds),
                      f"{_duration(e.seconds_low)}–{_duration(e.seconds_high)}" if e.work else "-",
                      per_item if e.work else "-",
                      f"{k(e.tokens_in)} / {k(e.tokens_out)}" if e.llm_requests else "-")
    out.print(table)
    point, low, high = totals(estimates)
    calls = sum(e.llm_requests for e in estimates.values())
    tokens = (f"; {calls:,} LLM calls, about {sum(e.tokens_in for e in estimates.values()):,} tokens in and "
              f"{sum(e.tokens_out for e in estimates.values()):,} out (at most "
              f"{sum(e.tokens_out_max for e in estimates.values()):,})") if calls else ""
    cost = "".join(f", about {text} at llm.prices" for text in _costs(estimates))
    busy = max((e.contention for e in estimates.values()), default=1.0)
    load = (f" as busy as it is now (CPU work runs {busy:.1f}× slower than on a quiet machine; "
            f"{_duration(point / busy)} there)") if busy >= 1.2 else ""
    out.print(f"estimated wall time {_duration(point)} (range {_duration(low)}–{_duration(high)}) on this machine"
              + load + tokens + cost + ".", highlight=False, soft_wrap=True)
    out.print("'+N?': items whose upstream is not computed yet (cache keys unknown; counted as to run). per item: "
              "seconds, or for an LLM stage calls × seconds per call (prompt tokens / prompt rate + output tokens / "
              "decode rate, model loading in the stage's time); m: measured in earlier runs with this cache, else "
              "the defaults of pipelines/estimate.py; M2T_CPU_CONTENTION=1 gives the quiet-machine figures.",
              highlight=False, soft_wrap=True, style="dim")
    _print_llm_estimate(estimates, runner.cache.root)


def _costs(estimates: dict[str, Any], key: str = "cost") -> list[str]:
    """The estimate's LLM cost summed per currency (``key``: ``cost`` or ``cost_max``), in words."""
    from pipelines.estimate import format_cost

    totals: dict[str, float] = {}
    for e in estimates.values():
        for row in e.llm:
            if row.get(key) is not None:
                totals[row["currency"]] = totals.get(row["currency"], 0.0) + row[key]
    return [format_cost(value, currency) for currency, value in totals.items()]


def _print_llm_estimate(estimates: dict[str, Any], cache_root: Path) -> None:
    """The dry run's LLM requests per stage and model: requests, prompt and completion tokens
    (expected, and at most) and, with ``llm.prices``, the cost; then the totals, where each
    figure comes from, and whether the LLM call cache can still answer some requests."""
    from pipelines.estimate import format_cost, llm_cache_empty

    rows = [(e.stage, row) for e in estimates.values() for row in e.llm]
    if not rows:
        return
    priced = any(row.get("cost") is not None for _, row in rows)
    table = Table(title="LLM requests (estimated)", title_justify="left")
    for col in ("stage", "model", "requests", "prompt tokens", "completion tokens", "at most",
                *(("cost", "cost at most") if priced else ())):
        table.add_column(col, justify="left" if col in ("stage", "model") else "right")

    def cost(row: dict[str, Any], key: str) -> list[str]:
        if not priced:
            return []
        return [format_cost(row[key], row["currency"]) if row.get(key) is not None else "-"]

    for stage, row in rows:
        table.add_row(stage, f"{row['model']} ({row['backend']})", f"{row['requests']:,}", f"{row['prompt_tokens']:,}",
                      f"{row['completion_tokens']:,}", f"{row['completion_tokens_max']:,}", *cost(row, "cost"),
                      *cost(row, "cost_max"))
    table.add_section()
    table.add_row("total", "", f"{sum(r['requests'] for _, r in rows):,}", f"{sum(r['prompt_tokens'] for _, r in rows):,}",
                  f"{sum(r['completion_tokens'] for _, r in rows):,}",
                  f"{sum(r['completion_tokens_max'] for _, r in rows):,}",
                  *((" + ".join(_costs(estimates)) or "-", " + ".join(_costs(estimates, "cost_max")) or "-")
                    if priced else ()))
    out.print(table)
    for stage, row in rows:
        if row["requests"]:
            out.print(f"{stage} · {row['model']}: prompt tokens: {row['prompt_from']}; completion tokens: "
                      f"{row['completion_from']}", highlight=False, soft_wrap=True, style="dim", markup=False)
    unpriced = sorted({row["model"] for _, row in rows if row.get("cost") is None and row["requests"]})
    cached = ("the LLM call cache is empty, so every one is sent" if llm_cache_empty(cache_root) else
              f"answers already in the LLM call cache ({Path(cache_root) / 'llm'}) are not looked up, so on a warm "
              "cache these are an upper bound")
    out.print("requests: the calls of every item left to compute (repairs expected), items whose records the run or "
              f"the cache holds left out; {cached}. at most: every repair made, every answer at its longest"
              + (f". No llm.prices for {', '.join(unpriced)}: no cost" if unpriced else "") + ".",
              highlight=False, soft_wrap=True, style="dim")


def _print_stage_table(result: Any) -> None:
    """The run's stages with the measured seconds beside the estimate's point and range; a
    stage that took more than ``OVER_FACTOR`` × its estimate is marked, and named below."""
    from pipelines.estimate import OVER_FACTOR, over_estimate

    table = Table(title="stages", title_justify="left")
    for col in ("stage", "ok", "computed", "cached", "resumed", "failed", "n/a", "seconds", "estimated", "range",
                "vs est."):
        table.add_column(col, justify="left" if col == "stage" else "right", no_wrap=col == "range")
    over = []
    for name, s in result.stages.items():
        estimate = result.estimates.get(name)
        flagged = over_estimate(s.seconds, estimate)
        if flagged:
            over.append(f"{name} ({s.seconds:.0f} s, estimated {estimate.seconds:.0f} s)")
        shown = estimate is not None and estimate.seconds > 0 and s.seconds >= 0.5
        ratio = f"{s.seconds / estimate.seconds:.1f}×" if shown else "-"
        table.add_row(
            name, str(s.ok), str(s.computed), str(s.from_cache), str(s.done_before),
            str(s.failed + s.skipped), str(s.not_applicable), f"{s.seconds:.2f}",
            f"{estimate.seconds:.1f}" if estimate is not None else "-",
            f"{estimate.seconds_low:.0f}–{estimate.seconds_high:.0f}" if estimate is not None else "-",
            f"[bold red]{ratio} ▲[/]" if flagged else ratio,
        )
    out.print(table)
    if over:
        out.print(f"[bold red]▲[/] over {OVER_FACTOR:g}× the estimate: {'; '.join(over)}. This run's measurements "
                  "are kept for the next estimate (<cache>/throughput.json).", highlight=False, soft_wrap=True)


def _print_items(result: Any) -> None:
    """One line per item: what the video turned into, or why it failed."""
    table = Table(title="items", title_justify="left", show_lines=False)
    table.add_column("item")
    table.add_column("frames", justify="right")
    table.add_column("speech")
    table.add_column("status")
    first_error: dict[str, str] = {e.item_id: f"{e.stage}: {e.reason}" for e in reversed(result.load_errors)}
    for stage_errors in reversed(list(result.errors.values())):
        for e in stage_errors:
            if e.error_type != "UpstreamFailed":
                first_error[e.item_id] = f"{e.stage}: {e.reason}"
    frames = result.records.get("extract_frames", {})
    speech = result.records.get("transcribe_audio", {})
    for item in result.items:
        f = frames.get(item.item_id)
        t = speech.get(item.item_id)
        if not item.video_path:
            heard = "(text only: no media file)"
        else:
            heard = "" if t is None else ("(no audio track)" if t.no_audio else excerpt(t.text, 60) or "(silence)")
        status = "[green]ok[/]" if item.item_id not in first_error else f"[red]{excerpt(first_error[item.item_id], 80)}[/]"
        table.add_row(item.item_id, str(len(f.frames)) if f else "-", heard, status)
    for e in result.load_errors:
        table.add_row(e.item_id, "-", "", f"[red]{excerpt(e.stage + ': ' + e.reason, 80)}[/]")
    out.print(table)


@app.command()
def status(
    run: Annotated[Optional[str], typer.Argument(help="run id (in --runs-dir) or a run directory; default: the "
                                                     "latest run")] = None,
    runs_dir: RunsDir = Path("data/runs"),
) -> None:
    """Show a run's status, per-stage counts and errors (the latest run when none is named)."""
    from pipelines.cli_runs import run_dirs
    from pipelines.store import RunStore

    if run is None:
        dirs = run_dirs(runs_dir)
        if not dirs:
            _fail(f"no runs in {runs_dir} (start one with `m2t run CONFIG`)")
        run = str(dirs[-1])
    store = RunStore(_resolve_run(run, runs_dir))
    manifest = store.read_manifest()
    stats = store.read_stats()
    state = store.state(manifest)  # as `m2t runs` shows it
    if state == "interrupted":
        state = "interrupted (run the same command again to resume)"
    table = Table()
    for col in ("stage", "records", "errors", "ms/item"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    stage_stats = stats.get("stages", {})
    for entry in manifest.get("stages", []):
        name = entry["name"]
        ms = stage_stats.get(name, {}).get("ms_per_computed_item")
        table.add_row(name, str(len(store.current_records(name))), str(len(store.errors(name))),
                      "-" if ms is None else f"{ms:.0f}")
    if store.damaged:  # the records just read: a "completed" run that lost records must not read as whole
        files = len({d.path for d in store.damaged})
        state += (f", damaged: {files} run file{'s' * (files > 1)} partly unreadable (run the same command "
                  f"again to recompute what was lost)")
    out.print(f"[bold]{manifest.get('run_id')}[/]  status: {state}  items: {manifest.get('items')}  "
              f"config: {manifest.get('config_name')} ({str(manifest.get('config_hash'))[:8]})", highlight=False)
    out.print(table)
    from pipelines.estimate import usage_with_estimate

    for line in usage_with_estimate(stats.get("llm_usage") or {}, stats.get("llm_estimate")):
        out.print(f"  LLM {line}", highlight=False, soft_wrap=True, markup=False)
    for warning in stats.get("warnings", []):
        out.print(f"  [yellow]warning[/] {warning}", highlight=False)
    for name in ["load_items", *[e["name"] for e in manifest.get("stages", [])]]:
        for e in store.errors(name):
            out.print(f"  [red]{name}[/] {e.item_id}: {e.reason}", highlight=False)


@data_app.command("synth")
def data_synth(
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", help="folder for the clips and manifest.jsonl (default data/samples, or data/samples/film with --film)",
    )] = None,
    film: Annotated[bool, typer.Option("--film", help="the film set: shot scales, camera movements, light and sound "
                                                      "known by construction")] = False,
) -> None:
    """Generate sample clips with known truth and their manifest: the popularity set (speech,
    real photos, on-screen text), or with --film the film set."""
    from pipelines.cli_common import _out_folder, _write_failed
    from pipelines.datasets.synthetic import generate_samples
    from pipelines.datasets.synthetic_film import generate_film_samples

    target = _out_folder(out_dir or (Path("data/samples/film") if film else Path("data/samples")))
    try:
        manifest = (generate_film_samples if film else generate_samples)(target, console=err)
    except M2TError as exc:
        _fail(str(exc))
        return
    except OSError as exc:
        _write_failed(target, exc)
        return
    out.print(f"wrote {manifest}", highlight=False)


@app.command()
def render(
    stage_name: Annotated[str, typer.Argument(metavar="STAGE", help="a stage that prompts a model, e.g. predict")],
    config: Annotated[Path, typer.Argument(help="case-study YAML")],
    n: Annotated[int, typer.Option("-n", min=1, help="how many items")] = 3,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="override a config key (repeatable)")] = None,
    run_id: Annotated[Optional[str], typer.Option(help="run whose upstream records are used (default: the config's)")] = None,
    runs_dir: RunsDir = Path("data/runs"),
    cache_dir: CacheDir = Path("data/cache"),
) -> None:
    """Print the exact messages STAGE would send for N items, without calling any model.

    Upstream records (summaries, neighbours, hypotheses) are read from the run of the config
    as written (or --run-id), so run the config first; --set may then change the stage's own
    settings (e.g. predict.mode). Render itself loads no model.
    """
    from pipelines.config import load_config
    from pipelines.render import render_requests, shared_prefix, upstream_records
    from pipelines.runner import default_run_id
    from pipelines.stages import get_stage
    from pipelines.store import RunStore

    try:
        cfg = load_config(config, set_ or [])
        if stage_name not in cfg.stages:
            _fail(f"stage {stage_name!r} is not in {config.name} (stages: {', '.join(cfg.stages)})")
        spec = get_stage(stage_name)
        if spec.render is None:
            _fail(f"stage {stage_name!r} sends no prompt; stages that do: "
                  + ", ".join(n for n in cfg.stages if get_stage(n).render))
        stage_cfg = cfg.stage_config(stage_name)
        from pipelines.datasets import load_dataset

        items = load_dataset(cfg.dataset).items
        # the run of the config as written: --set here usually changes only the prompting
        store = RunStore(runs_dir / (run_id or default_run_id(load_config(config))))
        records = upstream_records(store, spec, cfg.stages)
        shown = 0
        for item in items:
            if shown >= n:
                break
            if not spec.applies_to(item, stage_cfg):
                continue
            missing = [u for u in records if item.item_id not in records[u] and u in spec.needs]
            if missing:
                _fail(f"item {item.item_id} has no {', '.join(missing)} record in run {store.run_id}: "
                      f"run `m2t run {config}` first (render never calls a model)")
            upstream = {u: records[u][item.item_id] for u in records if item.item_id in records[u]}
            requests = render_requests(spec, item, stage_cfg, upstream, cache_dir)
            out.rule(f"{stage_name} · {item.item_id} ({item.split})")
            for k, messages in enumerate(requests):
                kept = shared_prefix(requests[0], messages) if k else 0
                if len(requests) > 1:
                    out.print(f"[bold]request {k + 1} of {len(requests)}[/]"
                              + (f" (its first {kept} messages as in request 1)" if kept else ""))
                for role, content in messages[kept:]:
                    out.print(f"[bold]\\[{role}][/]")
                    out.print(content, markup=False, highlight=False, soft_wrap=True)
            shown += 1
        if shown == 0:
            _fail(f"no item of {config.name} is predicted by {stage_name} (check its splits)")
    except M2TError as exc:
        _fail(str(exc))


PromptsDir = Annotated[Optional[Path], typer.Option(
    "--dir", help="a study's own prompt folder (the config's prompts_dir); default: the bundled prompts/")]


@prompts_app.command("check")
def prompts_check(folder: PromptsDir = None) -> None:
    """Fail when a prompt body changed without a version bump (what the tests check)."""
    from pipelines.prompts import all_prompts, check_lock

    problems = check_lock(folder)
    for problem in problems:
        err.print(f"[red]{problem}[/]", highlight=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"{len(all_prompts(folder))} prompts match {(folder or Path('prompts')) / 'LOCK.json'}", highlight=False)


@prompts_app.command("lock")
def prompts_lock(folder: PromptsDir = None) -> None:
    """Record the current prompt bodies in LOCK.json (after raising the version of any you changed)."""
    from pipelines.prompts import write_lock

    try:
        path = write_lock(folder)
    except M2TError as exc:
        _fail(str(exc))
        return
    out.print(f"wrote {path}", highlight=False)


def _default(field: Any) -> str:
    """A config field's default as the YAML user would write it; ``(from the config)`` for the
    required ones the case study fills in (``task``)."""
    from pydantic import BaseModel

    if field.is_required():
        return "(from the config)"
    value = field.get_default(call_default_factory=True)
    return repr(value.model_dump(mode="json") if isinstance(value, BaseModel) else value)


@app.command()
def stages() -> None:
    """List the registered stages with their versions and config keys."""
    from pipelines.stages import STAGES

    table = Table()
    for col in ("stage", "version", "config keys (default)"):
        table.add_column(col)
    for name, spec in sorted(STAGES.items()):
        keys = ", ".join(f"{k}={_default(field)}" for k, field in spec.config_cls.model_fields.items())
        table.add_row(name, str(spec.version), keys)
    out.print(table)


from pipelines.cli_runs import register  # noqa: E402  (the commands that read runs)

register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
