"""The stage registry: ``@stage(name, version=...)`` turns a function into a pipeline stage.

A stage is one function ``(item, cfg, ctx) -> Record``. ``cfg`` is the stage's own pydantic
config (unknown keys are errors); ``ctx`` brings the shared model pool, the records of
upstream stages for this item, and a directory for files the record refers to. The runner
fills the provenance; the stage only computes its payload.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from pipelines.errors import BadInputError
from pipelines.records import Item, Record

__all__ = ["BadInputError", "ModelPool", "StageConfig", "StageContext", "StageSpec", "stage"]

T = TypeVar("T")


class StageConfig(BaseModel):
    """Base of every stage config: unknown keys are rejected with their name."""

    model_config = ConfigDict(extra="forbid")


def repr_unless_default(*names: str) -> Callable[[BaseModel], list[tuple[str | None, Any]]]:
    """A ``__repr_args__`` for a config class whose fields ``names`` came later: at their
    default they stay out of the repr, which is how a config enters a cache key
    (``runner.stage_config_hash``), so configs written before them keep their keys."""

    def __repr_args__(self: BaseModel) -> list[tuple[str | None, Any]]:
        fields = type(self).model_fields
        return [(name, value) for name, value in BaseModel.__repr_args__(self)
                if not (name in names and value == fields[name].default)]

    return __repr_args__


class ModelPool:
    """Models loaded once per worker and shared by every item that needs them.

    Loading is lazy: a run whose results all come from the cache never loads a model, and
    ``loads`` says how many were loaded (the benchmark reads it from ``stats.json``).
    """

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self._handles: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.loads: list[dict[str, Any]] = []

    def loaded(self) -> dict[str, Any]:
        """The models loaded so far, by key (a copy)."""
        return dict(self._models)

    def get(self, key: str, loader: Callable[[], T]) -> T:
        """The model under ``key``, loaded by ``loader`` the first time (its seconds recorded
        in ``loads``). Threads asking at once get one load."""
        with self._lock:
            if key not in self._models:
                started = time.perf_counter()
                self._models[key] = loader()
                self.loads.append({"model": key, "seconds": round(time.perf_counter() - started, 3)})
            return self._models[key]

    def handles(self) -> dict[str, Any]:
        """The objects made by :meth:`handle` so far (the LLM call caches, with their usage
        and notes), by key (a copy)."""
        with self._lock:
            return dict(self._handles)

    def handle(self, key: str, make: Callable[[], T]) -> T:
        """A light object built around models (an LLM's call cache, say), made once per key;
        not a load: what it loads goes through :meth:`get`."""
        with self._lock:
            if key not in self._handles:
                self._handles[key] = make()
            return self._handles[key]


@dataclass
class Corpus:
    """Records of upstream stages for *every* item of the run (for retrieval), with the items.

    ``hash`` changes whenever any member's record, split or labels change, so it is part of
    the key of every record computed from the corpus.
    """

    items: dict[str, Item]
    records: dict[str, dict[str, Record]]  # stage -> item_id -> record
    hash: str


@dataclass
class StageContext:
    """What a stage gets besides the item and its config."""

    models: ModelPool
    provenance: dict[str, Any]
    upstream: dict[str, Record] = field(default_factory=dict)  # the item's records of the stages this one needs or uses
    artifact_dir: Path | None = None
    corpus: Corpus | None = None
    cache_dir: Path | None = None  # the run's cache root (model-call caches live below it)

    def llm(self, cfg: Any) -> Any:
        """The cached LLM for an ``llm`` config block (``pipelines.models.llm.CachedLLM``), one
        per distinct block and worker, as this stage sees it (its calls counted under the
        stage's name); its call cache lives below the run's cache root."""
        from pipelines.models.llm import CachedLLM

        if self.cache_dir is None:
            raise RuntimeError("stages that call an LLM need the run's cache directory")
        from pipelines.files import canonical_json
        from pipelines.models.llm import load_chat_model

        cache_dir, models = self.cache_dir, self.models
        weights = f"llm:{canonical_json(cfg.weights_identity())}"
        cached = models.handle(f"llm:{cfg.model_dump_json()}", lambda: CachedLLM(
            cfg, cache_dir, load_chat=lambda: models.get(weights, lambda: load_chat_model(cfg))))
        return cached.for_stage(str(self.provenance.get("stage", "")))

    def output_dir(self) -> Path:
        """A fresh directory for files the record will reference (e.g. frame JPEGs)."""
        if self.artifact_dir is None:
            raise RuntimeError("this stage was given no artifact directory")
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        return self.artifact_dir


StageFn = Callable[[Item, Any, StageContext], Record]
# a batched stage gets the whole batch and returns, per item, a record or the exception it met
BatchStageFn = Callable[[list[Item], Any, list[StageContext]], list[Record | Exception]]


@dataclass(frozen=True)
class StageSpec:
    """A registered stage.

    Attributes:
        needs: stages whose record for the item is required (the item fails without it).
        uses: stages whose record is used when the config runs them, ignored otherwise.
        item_parts: parts of the item the stage looks at (``video``, ``metadata``; default
            none: a stage of text from upstream records); they, with the upstream records, make
            the stage's input hash (``keys.item_inputs``), so e.g. a new title does not
            re-transcribe the audio, and a text-only stage never hashes the video file.
        batched: ``fn`` takes the whole batch (``BatchStageFn``), so a model can process the
            frames of several items in one call.
        prompts: names the prompt files the config uses (``<task>/<name>``); their ids,
            versions and hashes go into the cache key and the run manifest.
        corpus: stages whose records over all items the stage reads (retrieval); their hash
            is part of each item's key.
        applies: whether the stage runs for an item at all (e.g. only the test split); items
            it does not apply to get no record and no error, and neither do their dependants.
        summary: prints what the run's records of this stage say, after ``m2t run``'s stage
            table (given the run's result, the case-study config and a rich console): the
            predictions and their accuracy, the film exam, the audit's lines.
        render: builds the exact chat messages the stage would send for an item, without
            calling a model (``m2t render``): one request's messages, or a list of requests
            for a stage that sends an item several (``m2t render`` prints each).
        check: config-time validation against the other stages of the case study (raises
            ``ConfigError``), so a bad combination fails before any work.
        extra_key: what, beyond the config and prompts, changes the output (e.g. the content
            of a file the config names); it goes into the cache key.
        models: every model the stage uses with a config (``bundled:<name>``, a path, or
            ``pkg:<distribution>`` for weights inside a package), for the run manifest; by
            default the config's ``model`` or ``llm.model``.
        min_batch: items per call at least, whatever the run's ``batch_size``: for a batched
            stage whose per-call cost is fixed and per-item cost tiny (one FAISS search for
            a thousand queries), so that its cost grows with the items, not with the calls.
    """

    name: str
    version: int
    fn: Callable[..., Any]
    config_cls: type[StageConfig]
    record_cls: type[Record]
    needs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    item_parts: tuple[str, ...] = ()
    batched: bool = False
    prompts: Callable[[Any], list[str]] | None = None
    corpus: tuple[str, ...] = ()
    applies: Callable[[Item, Any], bool] | None = None
    render: Callable[[Item, Any, "StageContext"], Any] | None = None
    summary: Callable[[Any, Any, Any], None] | None = None
    check: Callable[[Any, list[str]], None] | None = None
    extra_key: Callable[[Any], Any] | None = None
    models: Callable[[Any], list[str]] | None = None
    min_batch: int = 1

    def applies_to(self, item: Item, cfg: StageConfig) -> bool:
        return self.applies(item, cfg) if self.applies else True

    def prompt_names(self, cfg: StageConfig) -> list[str]:
        return list(self.prompts(cfg)) if self.prompts else []

    def model_of(self, cfg: StageConfig) -> str | None:
        model = getattr(cfg, "model", None) or getattr(getattr(cfg, "llm", None), "model", None)
        return str(model) if model is not None else None

    def reproducible(self, cfg: StageConfig) -> bool:
        """Whether recomputing gives the stage's records again: False when any model block of
        the config (an ``llm`` block, say) declares ``reproducible`` False (a remote model,
        sampled generation). Every local computation is batch-invariant by construction."""
        return _reproducible(cfg)

    def requests_in_flight(self, cfg: StageConfig) -> int:
        """How many model requests the stage can keep in flight (the largest
        ``llm.max_concurrency`` of its remote model blocks; 1 without one): the runner gives a
        batched stage batches at least that large, so that a served model's slots fill."""
        return _in_flight(cfg)

    def models_of(self, cfg: StageConfig) -> list[str]:
        """Every model the stage uses with this config (for the run manifest's provenance):
        ``models(cfg)`` when the stage declares it, else its ``model`` / ``llm.model``."""
        if self.models is not None:
            return list(self.models(cfg))
        model = self.model_of(cfg)
        return [model] if model else []


def _in_flight(value: Any) -> int:
    from pipelines.models.llm import LLMConfig

    if isinstance(value, LLMConfig):
        return value.max_concurrency if value.spec.remote else 1
    if isinstance(value, BaseModel):
        return max([_in_flight(getattr(value, name)) for name in type(value).model_fields], default=1)
    if isinstance(value, (list, tuple)):
        return max([_in_flight(v) for v in value], default=1)
    if isinstance(value, dict):
        return max([_in_flight(v) for v in value.values()], default=1)
    return 1


def _reproducible(value: Any) -> bool:
    if isinstance(value, BaseModel):
        if getattr(value, "reproducible", True) is False:
            return False
        return all(_reproducible(getattr(value, name)) for name in type(value).model_fields)
    if isinstance(value, (list, tuple)):
        return all(_reproducible(v) for v in value)
    if isinstance(value, dict):
        return all(_reproducible(v) for v in value.values())
    return True


STAGES: dict[str, StageSpec] = {}


def stage(
    name: str,
    *,
    version: int,
    config: type[StageConfig],
    record: type[Record],
    needs: tuple[str, ...] = (),
    uses: tuple[str, ...] = (),
    item_parts: tuple[str, ...] = (),
    batched: bool = False,
    prompts: Callable[[Any], list[str]] | None = None,
    corpus: tuple[str, ...] = (),
    applies: Callable[[Item, Any], bool] | None = None,
    render: Callable[..., Any] | None = None,
    summary: Callable[[Any, Any, Any], None] | None = None,
    check: Callable[[Any, list[str]], None] | None = None,
    extra_key: Callable[[Any], Any] | None = None,
    models: Callable[[Any], list[str]] | None = None,
    min_batch: int = 1,
    reads: tuple[str, ...] | None = None,
) -> Callable[[T], T]:
    """Register ``fn`` as stage ``name`` and ``record`` as the class of its records (so that
    every reader parses them); bump ``version`` whenever its output changes. ``reads`` is the
    former name of ``item_parts`` (still taken, with a warning)."""
    if reads is not None:
        import warnings

        warnings.warn(f"stage {name!r}: reads= is now item_parts= (the parts of the item hashed into its key)",
                      DeprecationWarning, stacklevel=2)
        item_parts = reads

    def register(fn: T) -> T:
        from pipelines.records import register_record_type

        if name in STAGES and STAGES[name].fn is not fn:
            raise ValueError(f"stage {name!r} is registered twice")
        if record.stage_name != name:
            raise ValueError(f"stage {name!r}: its record class {record.__name__} has stage_name {record.stage_name!r}")
        register_record_type(record)
        STAGES[name] = StageSpec(
            name, version, fn, config, record, needs, uses, item_parts, batched, prompts, corpus, applies, render, summary,
            check, extra_key, models, min_batch,
        )
        return fn

    return register
