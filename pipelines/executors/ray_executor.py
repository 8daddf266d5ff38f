"""The Ray executor: the same stages on a Ray cluster (or a local Ray started for the run).

One pool of actors per stage (``run.ray.pools.<stage>``: actors, ``num_cpus``,
``num_gpus``; ``run.ray.default`` otherwise). Each actor keeps its own model pool, so a model
is loaded once per actor, and runs whole batches with the local executor's code
(:func:`pipelines.executors.local.run_batch`): one broken item still fails alone. Each actor
writes its batch's records itself — one atomic shard in the run directory, named after the
actor, and one cache entry per record — then returns them to the driver, which keeps the
manifest and ``stats.json`` and feeds the records to the next stage. A batch whose actor dies
costs only that batch (its items get an error record and are retried on the next run); the
actor is replaced and the other batches go on. Stages never know which executor runs them.

Actors limit torch and OpenCV to ``num_cpus`` threads each, so two one-CPU actors on two cores
do not fight over them. The corpus of a retrieval stage is put in Ray's object
store once per stage and fetched once per actor.

``ray`` is an optional extra: ``pip install 'm2t[ray]'``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import ConfigError
from pipelines.executors.local import Outcome, WorkItem, one_line, run_batch
from pipelines.records import ErrorRecord, Item, Record
from pipelines.stages.registry import Corpus, StageConfig, StageSpec


@dataclass
class _Payload:
    """What a worker needs of one task (the driver's model pool stays behind)."""

    item: Item
    provenance: dict[str, Any]
    upstream: dict[str, Record]
    artifact_dir: Path | None
    cache_dir: Path | None


class StageWorker:
    """One actor of a stage's pool (wrapped by ``ray.remote`` when the pool is made)."""

    def __init__(self, spec: StageSpec, cfg: StageConfig, run_dir: str, cache_root: str, threads: int,
                 prompts_dir: str | None, debug: bool, peers: int = 1) -> None:
        from pipelines.models.llm import share_requests_with
        from pipelines.prompts import use_study_prompts
        from pipelines.stages.registry import ModelPool
        from pipelines.store import Cache, RunStore

        use_study_prompts(prompts_dir)
        self.spec, self.cfg, self.debug = spec, cfg, debug
        self.models = ModelPool()
        self.store = RunStore(Path(run_dir))
        self.cache = Cache(Path(cache_root))
        self.tag = f"w{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.corpus: tuple[str, Corpus] | None = None
        self.threads = threads
        share_requests_with(peers)  # the run's llm.max_concurrency, split between the stage's actors

    def _limit_threads(self) -> None:
        """torch's and OpenCV's thread pools to this actor's CPUs, once the stage has imported
        them. Not OMP_NUM_THREADS: numpy's BLAS would then sum in another order than the local
        executor's and, e.g., Whisper's features (and transcripts) would differ."""
        if "torch" in sys.modules and sys.modules["torch"].get_num_threads() != self.threads:
            sys.modules["torch"].set_num_threads(self.threads)
        if "cv2" in sys.modules:
            sys.modules["cv2"].setNumThreads(self.threads)

    def run(self, payloads: list[_Payload], corpus_box: list[Any]) -> list[Outcome]:
        """Run one batch; write its records (shard + cache); return its outcomes."""
        from pipelines.stages.registry import StageContext

        corpus = None
        if corpus_box:
            corpus_hash, ref = corpus_box
            if self.corpus is None or self.corpus[0] != corpus_hash:
                import ray

                self.corpus = (corpus_hash, ray.get(ref))
            corpus = self.corpus[1]
        tasks = [WorkItem(p.item, StageContext(models=self.models, provenance=p.provenance, upstream=p.upstream,
                                           artifact_dir=p.artifact_dir, corpus=corpus, cache_dir=p.cache_dir))
                 for p in payloads]
        self._limit_threads()
        outcomes = run_batch(self.spec, self.cfg, tasks, self.debug)
        self._limit_threads()
        good = [o.record for o in outcomes if o.record is not None]
        for record in good:
            self.cache.put(record)
        self.store.append_records(self.spec.name, good, writer=self.tag)
        return outcomes

    def pid(self) -> int:
        return os.getpid()

    def llm_usage(self) -> dict[str, list[dict[str, Any]]]:
        """What this actor's model calls took (``CachedLLM.usage_report``), by stage."""
        from pipelines.models.llm import merge_usage

        return merge_usage(*[m.usage_report() for m in self.models.handles().values() if hasattr(m, "usage_report")])


def _lost(spec: StageSpec, task: WorkItem, reason: str) -> Outcome:
    return Outcome(task.item.item_id, error=ErrorRecord(
        item_id=task.item.item_id, stage=spec.name, key=task.ctx.provenance.get("key"), error_type="WorkerDied",
        reason=f"its Ray worker died ({reason}); the item is retried when the run is started again"))


class RayExecutor:
    """Batches of a stage spread over a pool of Ray actors (module doc)."""

    name = "ray"
    writes_records = True

    def __init__(self, options: Any, run_dir: Path, cache_root: Path, prompts_dir: str | None = None,
                 debug: bool = False) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'm2t[ray]' (or pip install ray)") from None
        self.options, self.run_dir, self.cache_root = options, Path(run_dir), Path(cache_root)
        self.prompts_dir, self.debug = prompts_dir, debug
        self.started_ray = False
        self.usage: dict[str, list[dict[str, Any]]] = {}
        if not ray.is_initialized():
            path = os.pathsep.join(p for p in [os.getcwd(), os.environ.get("PYTHONPATH", "")] if p)
            ray.init(address=options.address, num_cpus=None if options.address else options.num_cpus,
                     include_dashboard=False, log_to_driver=False, configure_logging=False,
                     runtime_env={"env_vars": {"PYTHONPATH": path, "HF_HUB_OFFLINE": "1",
                                               "TRANSFORMERS_OFFLINE": "1"}})
            self.started_ray = True
        self.ray = ray

    def _pool_options(self, stage: str) -> Any:
        return self.options.pools.get(stage) or self.options.default

    def threads_per_actor(self, stage: str) -> int:
        """torch and OpenCV threads of each actor of ``stage``'s pool (its CPUs, at least 1)."""
        return max(1, int(self._pool_options(stage).num_cpus))

    def _actors(self, spec: StageSpec, cfg: StageConfig, wanted: int) -> list[Any]:
        pool = self._pool_options(spec.name)
        cpus = self.ray.cluster_resources().get("CPU", 1)
        size = pool.actors or max(1, int(cpus // max(pool.num_cpus, 0.01)))
        remote = self.ray.remote(num_cpus=pool.num_cpus, num_gpus=pool.num_gpus, max_restarts=0)(StageWorker)
        threads = self.threads_per_actor(spec.name)
        count = max(1, min(size, wanted))
        return [remote.remote(spec, cfg, str(self.run_dir), str(self.cache_root), threads, self.prompts_dir, self.debug,
                              peers=count)
                for _ in range(count)]

    def map_batches(self, spec: StageSpec, cfg: StageConfig, batches: list[list[WorkItem]]) -> Iterator[list[Outcome]]:
        """Each batch's outcomes as its actor finishes it (not in order)."""
        if not batches:
            return
        from ray.exceptions import RayActorError, RayTaskError

        ray = self.ray
        corpus = batches[0][0].ctx.corpus
        corpus_box = [corpus.hash, ray.put(corpus)] if corpus is not None else []
        actors = self._actors(spec, cfg, len(batches))
        waiting = list(range(len(batches)))
        running: dict[Any, tuple[int, Any]] = {}

        def submit(actor: Any) -> None:
            if waiting:
                index = waiting.pop(0)
                payloads = [_Payload(t.item, t.ctx.provenance, t.ctx.upstream, t.ctx.artifact_dir, t.ctx.cache_dir)
                            for t in batches[index]]
                running[actor.run.remote(payloads, corpus_box)] = (index, actor)

        for actor in actors:
            submit(actor)
        try:
            while running:
                (ref,), _ = ray.wait(list(running), num_returns=1)
                index, actor = running.pop(ref)
                try:
                    outcomes = ray.get(ref)
                except RayActorError as exc:  # the actor died: this batch is lost, a new actor takes over
                    outcomes = [_lost(spec, task, type(exc).__name__) for task in batches[index]]
                    ray.kill(actor, no_restart=True)
                    actor = self._actors(spec, cfg, 1)[0]
                    actors.append(actor)
                except RayTaskError as exc:  # an error outside the per-item isolation: the batch fails
                    cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                    outcomes = [_lost(spec, task, one_line(cause)[:240]) for task in batches[index]]
                submit(actor)
                yield outcomes
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
            self._collect_usage(actors)
            for actor in actors:
                ray.kill(actor, no_restart=True)

    def _collect_usage(self, actors: list[Any]) -> None:
        """The stage's model usage from its actors, before they go (a dead actor's is lost)."""
        from pipelines.models.llm import merge_usage

        for actor in actors:
            try:
                self.usage = merge_usage(self.usage, self.ray.get(actor.llm_usage.remote(), timeout=30))
            except Exception:  # noqa: BLE001 - a dead or stuck actor: its usage is not counted
                continue

    def llm_usage(self) -> dict[str, list[dict[str, Any]]]:
        """The model usage of every stage's actors so far."""
        return self.usage

    def close(self) -> None:
        if self.started_ray:
            self.ray.shutdown()
