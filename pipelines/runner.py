"""The runner: takes a case-study config through its stages, item by item, resumably.

For each stage, in config order, every item gets a key: sha256 of the stage name and
version, the stage's config, and the item's inputs (the video's bytes, its metadata, and the
keys of the upstream records it uses). Then:

1. the run already holds a record with that key  -> done (resume after a crash);
2. the cache holds one                            -> copied into the run, no model loaded;
3. otherwise the stage runs, in batches; each finished batch is one atomic shard.

A failed item gets one line in ``<stage>.errors.jsonl``, its downstream stages skip it, and
every other item goes on. Failed items are retried the next time the run is started. A
damaged run file (a truncated shard ...) is set aside first, kept (``RunStore.repair``): the
items it lost have no record, so step 2 or 3 gives them one again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.config import CaseStudyConfig
from pipelines.datasets import load_dataset
from pipelines.datasets.checks import (
    check_labels,
    dataset_fingerprint,
    hidden_metadata,
    outcome_warnings,
    split_warnings,
    take_first_per_split,
)
from pipelines.datasets.manifest import LOAD_STAGE
from pipelines.errors import ConfigError, DatasetError
from pipelines.estimate import StageEstimate
from pipelines.executors import LocalExecutor, Outcome, WorkItem
from pipelines.files import sha256_json
from pipelines.keys import VideoHasher, item_inputs, record_key, stage_config_hash
from pipelines.leakage import check_leakage
from pipelines.progress import ProgressBars, no_bars, rich_bars
from pipelines.provenance import run_manifest
from pipelines.records import ErrorRecord, Item, Record, utc_now
from pipelines.stages import get_stage
from pipelines.stages.registry import Corpus, ModelPool, StageContext, StageSpec
from pipelines.store import Cache, RunStore, artifacts_present, check_run_id
from pipelines.tasks import get_task

EXIT_OK = 0
EXIT_ITEMS_FAILED = 3


@dataclass
class StageStats:
    items: int = 0
    done_before: int = 0
    from_cache: int = 0
    computed: int = 0
    failed: int = 0
    skipped: int = 0
    not_applicable: int = 0
    seconds: float = 0.0
    compute_seconds: float = 0.0

    @property
    def ok(self) -> int:
        return self.done_before + self.from_cache + self.computed


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    status: str
    items: list[Item]
    load_errors: list[ErrorRecord]
    stages: dict[str, StageStats]
    records: dict[str, dict[str, Record]]
    errors: dict[str, list[ErrorRecord]]
    seconds: float
    model_loads: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hidden_fields: list[str] = field(default_factory=list)
    estimates: dict[str, StageEstimate] = field(default_factory=dict)

    @property
    def failed_items(self) -> set[str]:
        bad = {e.item_id for e in self.load_errors}
        for errors in self.errors.values():
            bad.update(e.item_id for e in errors)
        return bad

    @property
    def exit_code(self) -> int:
        return EXIT_OK if not self.failed_items else EXIT_ITEMS_FAILED

    def summary_line(self) -> str:
        total = len(self.items) + len(self.load_errors)
        failed = len(self.failed_items)
        tail = ""
        if self.hidden_fields:
            tail += f"; not shown to the model: {', '.join(self.hidden_fields)}"
        if self.warnings:
            tail += f"; {len(self.warnings)} warning{'s' if len(self.warnings) > 1 else ''} (above, and in stats.json)"
        if not failed:
            return f"run {self.run_id}: all {total} items done in {self.seconds:.1f} s{tail}"
        hints = []
        if self.load_errors:
            hints.append(f"fix the manifest rows in {self.run_dir}/load_items.errors.jsonl")
        if failed > len(self.load_errors):
            hints.append(f"see {self.run_dir}/*.errors.jsonl; run the same command again to retry failed items")
        return f"run {self.run_id}: {total - failed} of {total} items done, {failed} failed ({'; '.join(hints)}){tail}"


def default_run_id(config: CaseStudyConfig) -> str:
    """Same config -> same run id, so re-running the same command resumes the same run."""
    return f"{config.name}-{config.hash()[:8]}"


@dataclass
class _Known:
    """A cache hit seen by its key only (a dry run reads no record)."""

    item_id: str
    key: str


@dataclass
class _Plan:
    spec: StageSpec
    cfg: Any
    stats: StageStats
    out: dict[str, Record] = field(default_factory=dict)
    from_cache: list[Record] = field(default_factory=list)
    pending: list[WorkItem] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    corpus: Corpus | None = None


class Runner:
    """Runs one config into one run directory."""

    def __init__(
        self,
        config: CaseStudyConfig,
        *,
        runs_dir: Path,
        cache_dir: Path,
        run_id: str | None = None,
        limit: int | None = None,
        show_progress: bool = True,
        debug: bool = False,
        console: Any = None,
        progress: ProgressBars | None = None,
    ) -> None:
        self.config = config
        self.run_id = check_run_id(run_id) if run_id is not None else default_run_id(config)
        self.store = RunStore(Path(runs_dir) / self.run_id)
        self.cache = Cache(Path(cache_dir))
        self.limit = limit
        self.show_progress = show_progress
        self.console = console
        # how a stage's computing is shown: rich bars on ``console`` by default, a caller's own callback otherwise
        self.progress: ProgressBars = progress or (rich_bars(console) if show_progress else no_bars)
        self.debug = debug
        self.executor: Any = LocalExecutor(debug=debug)
        self.models = ModelPool()
        self.hasher = VideoHasher()
        self.not_applicable: dict[str, set[str]] = {}
        self.warnings: list[str] = []
        self.dataset_identity: dict[str, Any] = {}
        self.estimates: dict[str, StageEstimate] = {}

    # ------------------------------------------------------------------ public
    def _load_items(self) -> tuple[list[Item], list[ErrorRecord], list[str]]:
        """The dataset's items (labels checked, leakage refused), load errors, hidden fields."""
        loaded = load_dataset(self.config.dataset)
        task = get_task(self.config.task)
        items, bad_labels, label_notes = check_labels(take_first_per_split(loaded.items, self.limit), task)
        load_errors = [*loaded.errors, *bad_labels]
        if not items and not load_errors:
            split = f" of split {self.config.dataset.split!r}" if self.config.dataset.split else ""
            raise DatasetError(f"dataset {self.config.dataset.path} has no items{split}; nothing to run")
        shown = self._shown_fields()
        check_leakage(items, task, shown)
        self.warnings = [*loaded.notes, *label_notes, *split_warnings(items, self.config)]
        hidden = hidden_metadata(items, shown) if "summarize" in self.config.stages else []
        return items, load_errors, hidden

    def dry_run(self) -> tuple[list[Item], list[ErrorRecord], dict[str, StageEstimate]]:
        """``m2t run --dry-run``: the items and what each stage would do and cost; nothing is
        written, no model is loaded; a damaged run file is reported in one line, left as it is."""
        from pipelines.store import on_damage

        items, load_errors, _ = self._load_items()
        previous = on_damage(self._say_damage) if self.console is not None else None
        try:
            return items, load_errors, self.estimate(items)
        finally:
            if self.console is not None:
                on_damage(previous)

    def _say_damage(self, damage: Any) -> None:
        from rich.markup import escape

        self.console.print(f"[yellow]warning:[/] {escape(str(damage))}", highlight=False, soft_wrap=True)

    def run(self) -> RunResult:
        started = time.perf_counter()
        items, load_errors, hidden = self._load_items()

        try:
            self.store.lock()
        except (NotADirectoryError, FileExistsError, PermissionError) as exc:
            raise ConfigError(f"cannot use run directory {self.store.dir}: {exc.strerror or exc}") from None
        try:
            # damaged files (a truncated shard ...) go aside, kept; what they lost is recomputed below
            self.warnings += self.store.repair()
            if self.config.run.executor == "ray":
                from pipelines.executors.ray_executor import RayExecutor

                self.executor = RayExecutor(self.config.run.ray, self.store.dir, self.cache.root,
                                            self.config.prompts_dir, self.debug)
            self.estimates = self.estimate(items)
            manifest = self._start_manifest(items, load_errors)
            manifest["not_shown_to_model"] = hidden
            self.store.write_errors(LOAD_STAGE, load_errors)
            records: dict[str, dict[str, Record]] = {}
            errors: dict[str, list[ErrorRecord]] = {}
            stats: dict[str, StageStats] = {}
            try:
                for name in self.config.stages:
                    stats[name], records[name], errors[name] = self._run_stage(name, items, records)
                    self._write_stats(stats, time.perf_counter() - started, len(items), load_errors)
                    self._record_rate(name, stats[name])
            except BaseException as exc:  # interrupted or crashed: finished batches stay; say which
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"crashed: {type(exc).__name__}"
                manifest.update(status=status, finished_at=utc_now().isoformat())
                self.store.write_manifest(manifest)
                raise
            self.warnings += outcome_warnings(self.config, stats, records)
            self.warnings += [note for model in self.models.handles().values() for note in getattr(model, "notes", [])]
            result = RunResult(
                self.run_id, self.store.dir, "", items, load_errors, stats, records, errors,
                time.perf_counter() - started, list(self.models.loads), list(self.warnings), hidden,
                self.estimates,
            )
            result.status = "completed" if result.exit_code == EXIT_OK else "completed_with_errors"
            self._write_stats(stats, result.seconds, len(items), load_errors)
            manifest.update(status=result.status, finished_at=utc_now().isoformat(), seconds=round(result.seconds, 3),
                            numerics=self._numerics())  # again: now with torch's view if the stages used it
            self.store.write_manifest(manifest)
            return result
        finally:
            self.executor.close()
            self.executor = LocalExecutor(debug=self.debug)
            self.store.unlock()

    def _shown_fields(self) -> list[str]:
        """The item fields the model reads: title and description, and the metadata fields
        that summarize shows (nothing when the config has no summarize stage)."""
        if "summarize" not in self.config.stages:
            return []
        cfg = self.config.stage_config("summarize")
        return [s for s in ("title", "description") if s in cfg.sections] + list(cfg.metadata_fields)

    # ------------------------------------------------------------------ stages
    def _plan_stage(
        self, name: str, items: list[Item], records: dict[str, dict[str, Record]], *, dry: bool = False
    ) -> _Plan:
        """What stage ``name`` has to do for ``items``: records the run already holds with the same
        key, records the cache holds, tasks to compute, and items whose upstream failed. ``dry``:
        of the cache only file names are looked at (a hit stands as its key), and a missing
        upstream record is not a failure but an unknown key."""
        spec = get_stage(name)
        cfg = self.config.stage_config(name)
        config_hash = stage_config_hash(spec, cfg)
        reproducible = spec.reproducible(cfg)
        plan = _Plan(spec=spec, cfg=cfg, stats=StageStats(items=len(items)))
        done = {r.item_id: r for r in self.store.records(name)}
        plan.corpus = corpus = self._corpus(spec, items, records)

        upstream_names = [s for s in (*spec.needs, *spec.uses) if s in self.config.stages and s != name]
        for item in items:
            if not spec.applies_to(item, cfg) or any(item.item_id in self.not_applicable.get(s, set())
                                                     for s in upstream_names):
                self.not_applicable.setdefault(name, set()).add(item.item_id)
                plan.stats.not_applicable += 1
                continue
            missing = [s for s in upstream_names if item.item_id not in records.get(s, {})]
            if missing:
                plan.stats.skipped += 1
                plan.errors.append(
                    ErrorRecord(
                        item_id=item.item_id, stage=name, error_type="UpstreamFailed",
                        reason=f"skipped: {', '.join(missing)} failed for this item",
                    )
                )
                continue
            upstream = {s: records[s][item.item_id] for s in upstream_names}
            inputs = item_inputs(spec, item, upstream, self.hasher)
            if corpus is not None:
                inputs["corpus"] = corpus.hash
            input_hash, key = record_key(name, spec.version, config_hash, inputs)
            previous = done.get(item.item_id)
            if previous is not None and previous.key == key and (dry or artifacts_present(previous)):
                plan.out[item.item_id] = previous
                plan.stats.done_before += 1
                continue
            cached = _Known(item.item_id, key) if dry and self.cache.has(name, key) else (
                None if dry else self.cache.get(name, key))
            if cached is not None:
                plan.out[item.item_id] = cached  # type: ignore[assignment]
                plan.from_cache.append(cached)  # type: ignore[arg-type]
                plan.stats.from_cache += 1
                continue
            provenance = {
                "item_id": item.item_id, "stage": name, "stage_version": spec.version, "key": key,
                "input_hash": input_hash, "config_hash": config_hash, "model": spec.model_of(cfg),
                "reproducible": reproducible,
            }
            ctx = StageContext(
                models=self.models, provenance=provenance, upstream=upstream,
                artifact_dir=self.cache.artifact_dir(name, key), corpus=corpus, cache_dir=self.cache.root,
            )
            plan.pending.append(WorkItem(item, ctx))
        return plan

    def estimate(self, items: list[Item]) -> dict[str, StageEstimate]:
        """Per stage, before anything runs: items done, cached, to compute and unknown, the wall
        time (a range) and LLM tokens they will take (``pipelines/estimate.py``). Reads only
        file names and the run's own records; writes nothing and loads no model. An LLM
        stage's prompt is sized from the video texts the run already holds, and the first
        stage to use an ``llm`` block pays its loading."""
        from pipelines.estimate import cpu_contention, estimate_stage, read_rates, stage_llm_parts

        rates = read_rates(self.cache.root)
        # how busy the machine is now: every quiet-machine figure is scaled by it
        contention = self._contention = cpu_contention()
        known: dict[str, dict[str, Record]] = {}
        out: dict[str, StageEstimate] = {}
        loaded: set[str] = set()
        configs = {name: self.config.stage_config(name) for name in self.config.stages}
        saved_na = {k: set(v) for k, v in self.not_applicable.items()}
        for name in self.config.stages:
            plan = self._plan_stage(name, items, known, dry=True)
            known[name] = plan.out
            counts = {"items": len(items) - plan.stats.not_applicable, "done": plan.stats.done_before,
                      "cached": plan.stats.from_cache, "to_compute": len(plan.pending), "unknown": plan.stats.skipped,
                      "not_applicable": plan.stats.not_applicable}
            texts = [r.text for r in known.get("summarize", {}).values()
                     if isinstance(getattr(r, "text", None), str)]  # summaries the run holds (not cache stubs)
            parts = stage_llm_parts(name, plan.cfg, prompt_names=plan.spec.prompt_names(plan.cfg),
                                    stage_configs=configs, texts=texts,
                                    batch_size=max(self.config.run.batch_size, plan.spec.min_batch))
            work = counts["to_compute"] + counts["unknown"]
            pays = {p.key for p in parts if work and p.key not in loaded}
            loaded |= pays
            out[name] = estimate_stage(name, plan.cfg, plan.spec.model_of(plan.cfg), counts, rates, parts=parts,
                                       pays_load=pays, contention=contention)
        self.not_applicable = saved_na
        return out

    def _run_stage(
        self, name: str, items: list[Item], records: dict[str, dict[str, Record]]
    ) -> tuple[StageStats, dict[str, Record], list[ErrorRecord]]:
        stage_started = time.perf_counter()
        plan = self._plan_stage(name, items, records)
        spec, cfg, stats, out, errors = plan.spec, plan.cfg, plan.stats, plan.out, plan.errors
        from_cache, pending = plan.from_cache, plan.pending

        batch_size = max(self.config.run.batch_size, spec.min_batch,
                         spec.requests_in_flight(cfg) if spec.batched else 1)  # fill a served model's slots
        for start in range(0, len(from_cache), max(batch_size, 256)):
            self.store.append_records(name, from_cache[start : start + max(batch_size, 256)])

        compute_started = time.perf_counter()
        batches = [pending[start : start + batch_size] for start in range(0, len(pending), batch_size)]
        with self.progress(name, len(pending)) as advance:
            for outcomes in self.executor.map_batches(spec, cfg, batches):
                self._save_batch(name, outcomes, out, errors, stats)
                advance(len(outcomes))
        stats.compute_seconds = round(time.perf_counter() - compute_started, 4)
        stats.seconds = round(time.perf_counter() - stage_started, 4)
        self.store.write_errors(name, errors)
        return stats, out, errors

    def _corpus(self, spec: StageSpec, items: list[Item], records: dict[str, dict[str, Record]]) -> Corpus | None:
        if not spec.corpus:
            return None
        members = {i.item_id: i for i in items if all(i.item_id in records.get(s, {}) for s in spec.corpus)}
        chosen = {s: {i: records[s][i] for i in members} for s in spec.corpus}
        fingerprint = [
            (i, members[i].split, members[i].labels, [chosen[s][i].key for s in spec.corpus]) for i in sorted(members)
        ]
        return Corpus(items=members, records=chosen, hash=sha256_json(fingerprint))

    def _save_batch(
        self, name: str, outcomes: list[Outcome], out: dict[str, Record], errors: list[ErrorRecord], stats: StageStats
    ) -> None:
        good = [o.record for o in outcomes if o.record is not None]
        for record in good:
            if not self.executor.writes_records:
                self.cache.put(record)
            out[record.item_id] = record
        if not self.executor.writes_records:  # else each worker wrote its batch's shard and cache entries
            self.store.append_records(name, good)
        stats.computed += len(good)
        failed = [o.error for o in outcomes if o.error is not None]
        stats.failed += len(failed)
        if failed:
            errors.extend(failed)
            self.store.write_errors(name, errors)

    # ------------------------------------------------------------------ bookkeeping
    def _start_manifest(self, items: list[Item], load_errors: list[ErrorRecord]) -> dict[str, Any]:
        previous = self.store.read_manifest()
        self.dataset_identity = dataset_fingerprint(self.config.dataset)
        before, now = self.store.item_ids(), [i.item_id for i in items]
        if previous.get("dataset") not in (None, self.dataset_identity):
            stale = sorted(before - set(now)) if before is not None else []
            self.warnings.append(
                f"the dataset changed since the last attempt of run {self.run_id}: items whose content changed "
                f"are recomputed; {len(stale)} items no longer in it are stale and ignored by status and load_run"
            )
        self.store.write_items(items)
        manifest = run_manifest(self.config, run_id=self.run_id, previous=previous, executor=self.executor.name,
                                items=len(items), load_errors=len(load_errors), limit=self.limit,
                                dataset=self.dataset_identity, numerics=self._numerics())
        self.store.write_manifest(manifest)
        return manifest

    def _numerics(self) -> dict[str, Any]:
        """This machine's numerics environment (``pipelines/numerics.py``); under Ray, also the
        torch threads of each stage's actors (they compute the records, not this process)."""
        from pipelines.numerics import numerics_environment

        numerics = numerics_environment()
        if self.executor.name == "ray":
            numerics["ray_actor_threads"] = {n: self.executor.threads_per_actor(n) for n in self.config.stages}
        return numerics

    def _record_rate(self, name: str, stats: StageStats) -> None:
        """This machine's measured throughput of the stage, for later estimates: seconds per
        item and, for an LLM stage, what its calls did (``llm_usage``: requests and tokens) with
        the loading of the models it loaded taken out (``pipelines/estimate.py``)."""
        from pipelines.estimate import cpu_contention, model_speed, record_rates

        # LLM blocks whose model was loaded by now: those new since the last stage were loaded by this one
        seen: set[str] = getattr(self, "_llms_loaded", set())
        now = {key for key, m in self.models.handles().items() if key.startswith("llm:") and getattr(m, "_chat", None)}
        self._llms_loaded = seen | now
        if not stats.computed:  # nothing measured (and no probe: a run from the cache stays instant)
            return
        # the machine's CPU contention around the stage: probed before it (the last computing
        # stage's end, or the run's estimate) and now
        now_busy = cpu_contention(0.05)
        busy = (getattr(self, "_contention", now_busy) + now_busy) / 2
        self._contention = now_busy
        spec = get_stage(name)
        cfg = self.config.stage_config(name)
        model = spec.model_of(cfg)
        llm: dict[str, dict[str, float]] = {}
        llm_cfg = getattr(cfg, "llm", None)
        try:
            rows = self.llm_usage().get(name, []) if hasattr(self, "llm_usage") else []
        except Exception:  # usage is for estimates only: never fail a run over it
            rows = []
        rows = [r for r in rows if llm_cfg is None or r.get("model") == getattr(llm_cfg, "model", None)]
        if llm_cfg is not None and rows:
            load_s = sum(model_speed(m.cfg.backend, m.cfg.model, getattr(m.cfg, "dtype", None)).load_s
                         for key, m in self.models.handles().items() if key in now - seen and hasattr(m, "cfg"))
            planned = self.estimates.get(name)  # its load includes a first use's conversion
            if load_s and planned is not None and planned.load_seconds:
                load_s = planned.load_seconds / max(planned.contention, 1.0)
            llm[name] = {"calls": sum(float(r.get("requests", 0)) for r in rows),
                         "prompt_tokens": sum(float(r.get("prompt_tokens", 0)) for r in rows),
                         "completion_tokens": sum(float(r.get("completion_tokens", 0)) for r in rows),
                         "load_s": load_s}
        try:
            record_rates(self.cache.root, {name: (model, stats.compute_seconds, stats.computed)}, llm=llm,
                         contention=busy)
        except OSError:  # a read-only cache still runs; the estimate keeps its defaults
            pass

    def llm_usage(self) -> dict[str, list[dict[str, Any]]]:
        """What each stage's model calls took (requests, answers from the cache, tokens,
        retries, failures, seconds, cost when priced), one row per model, from this process's
        models and the executor's workers."""
        from pipelines.models.llm import merge_usage

        own = [m.usage_report() for m in self.models.handles().values() if hasattr(m, "usage_report")]
        return merge_usage(*own, self.executor.llm_usage())

    def _write_stats(
        self, stats: dict[str, StageStats], seconds: float, n_items: int, load_errors: list[ErrorRecord]
    ) -> None:
        from pipelines.estimate import llm_estimate, over_estimate

        self.store.write_stats(
            {
                "items": n_items,
                "load_errors": len(load_errors),
                "seconds": round(seconds, 4),
                "model_loads": list(self.models.loads),
                "llm_usage": self.llm_usage(),
                # what the estimate made at the start of this attempt expected, row by row as llm_usage
                "llm_estimate": llm_estimate(self.estimates),
                "warnings": list(self.warnings),
                "stages": {
                    n: {**vars(s), "ok": s.ok, "ms_per_computed_item": round(1000 * s.compute_seconds / s.computed, 1)
                        if s.computed else None,
                        "estimated_seconds": self.estimates[n].seconds if n in self.estimates else None,
                        "estimated_range": [self.estimates[n].seconds_low, self.estimates[n].seconds_high]
                        if n in self.estimates else None,
                        "over_estimate": over_estimate(s.seconds, self.estimates.get(n))}
                    for n, s in stats.items()
                },
                "estimate": {n: e.as_dict() for n, e in self.estimates.items()},
                "updated_at": utc_now().isoformat(),
            }
        )


def run_config(config: CaseStudyConfig, **kwargs: Any) -> RunResult:
    """Convenience wrapper: ``Runner(config, **kwargs).run()``."""
    return Runner(config, **kwargs).run()
