"""Case-study configs: YAML files validated with pydantic.

A config may ``include:`` a base file (path relative to itself) and override a few keys;
``--set a.b=value`` overrides on the command line (``value`` is parsed as YAML, so numbers,
booleans, null and lists work; ``extract_frames.num_frames=4`` is short for
``stages.extract_frames.num_frames=4``). Any unknown key is an error that names it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.errors import ConfigError, first_line
from pipelines.files import sha256_json


class DatasetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adapter: Literal["manifest", "vpd", "folder", "film"] = "manifest"
    path: str = Field(description="manifest: a CSV/JSONL/Parquet file; vpd: the folder of label CSVs; folder: a "
                                  "directory of videos. Relative to the current directory")
    labels_file: str | None = Field(None, description="folder: a table (CSV, TSV, JSONL, Parquet) with id or path, label/label_<task>, split, "
                                                      "title ... columns (default: <path>/labels.csv when present)")
    data_root: str | None = Field(None, description="manifest: folder the media paths are relative to (default: its own)")
    videos_dir: str | None = Field(None, description="vpd: folder of <video_id>.mp4 (and captions/<id>.json)")
    require_video: bool = Field(True, description="vpd: rows whose video is missing are load errors (else text-only)")
    split: str | None = Field(None, description="keep only rows of this split")
    metadata_dir: str | None = Field(None, description="film: a folder of MovieNet-style <imdb_id>.json metadata")
    shots_file: str | None = Field(None, description="film: a CSV of shot annotations (CineScale/MovieShots style)")
    labels_note: str | None = Field(None, description="shown with every accuracy, e.g. 'illustrative labels' for "
                                                      "a sample set whose labels are made up")


class RayPool(BaseModel):
    """The actors of one stage under the Ray executor."""

    model_config = ConfigDict(extra="forbid")

    actors: int | None = Field(None, ge=1, description="actors in the pool; default: the cluster's CPUs / num_cpus")
    num_cpus: float = Field(1.0, gt=0, description="CPUs each actor reserves (and the threads it uses)")
    num_gpus: float = Field(0.0, ge=0, description="GPUs each actor reserves")


class RayOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(None, description="a running Ray cluster (e.g. ray://head:10001 or auto); "
                                                  "default: start a local Ray for the run")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local Ray (default: all of this machine's)")
    default: RayPool = Field(default_factory=RayPool, description="the pool of every stage not in pools")
    pools: dict[str, RayPool] = Field(default_factory=dict, description="stage -> its own pool")


class RunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(4, ge=1, description="items per batch; each finished batch is saved at once")
    executor: Literal["local", "ray"] = Field("local", description="local: this process; ray: a pool of Ray "
                                                                   "actors per stage (pip install 'm2t[ray]')")
    ray: RayOptions = Field(default_factory=RayOptions)


class CaseStudyConfig(BaseModel):
    """One case study: which data, which stages (in order, each with its config), which task."""

    model_config = ConfigDict(extra="forbid")

    name: str
    task: str
    description: str = ""
    dataset: DatasetConfig
    stages: dict[str, dict[str, Any]] = Field(description="stage name -> its config, run in this order")
    prompts_dir: str | None = Field(None, description="a folder of your own prompts (same layout, its own LOCK.json), "
                                                      "searched before the bundled prompts/; relative to this file")
    run: RunOptions = Field(default_factory=RunOptions)

    def stage_config(self, name: str) -> BaseModel:
        """The stage's validated config; a stage config with a ``task`` field gets the case
        study's task unless it names one itself."""
        from pipelines.stages import get_stage

        cls = get_stage(name).config_cls
        values = dict(self.stages.get(name) or {})
        if "task" in cls.model_fields and "task" not in values:
            values["task"] = self.task
        return cls.model_validate(values)

    def hash(self) -> str:
        """Hash of everything that changes results (the run options do not)."""
        # the dataset by its fields (a note for readers changes no result)
        identity = {"task": self.task, "dataset": self.dataset.model_dump(mode="json", exclude={"labels_note"}),
                    "stages": self.resolved_stages()}
        if self.prompts_dir:
            identity["prompts_dir"] = self.prompts_dir
        return sha256_json(identity)

    def resolved_stages(self) -> dict[str, dict[str, Any]]:
        """Each stage's config with its defaults filled in."""
        return {name: self.stage_config(name).model_dump(mode="json") for name in self.stages}


def deep_merge(base: dict[str, Any], override: dict[str, Any], path: str = "") -> dict[str, Any]:
    """``override`` on top of ``base``; under ``stages``, a stage set to null is removed."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if path == "stages" and value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value, f"{path}.{key}" if path else key)
        else:
            out[key] = copy.deepcopy(value)
    return out


def order_stages(stages: dict[str, Any]) -> dict[str, Any]:
    """The stages in the order written, except that a stage moves after the stages it needs
    or uses (a variant that adds a stage to a base config cannot place it by hand)."""
    from pipelines.stages import STAGES

    names = list(stages)
    placed: list[str] = []
    while len(placed) < len(names):
        for name in names:
            if name in placed:
                continue
            spec = STAGES.get(name)
            deps = [] if spec is None else [d for d in (*spec.needs, *spec.uses) if d in stages and d != name]
            if all(d in placed for d in deps):
                placed.append(name)
                break
        else:  # a cycle or an unknown stage: keep the written order, validation reports it
            return stages
    return {name: stages[name] for name in placed}


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:  # type: ignore[override]
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def unshare(value: Any) -> Any:
    """A copy in which no two places share one object. YAML aliases (``*llm`` after
    ``&llm``) load as the *same* dict, and ``copy.deepcopy`` keeps that sharing, so an
    override of one place would silently change the other."""
    if isinstance(value, dict):
        return {k: unshare(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unshare(v) for v in value]
    return value


def yaml_problem(exc: yaml.YAMLError) -> str:
    """``line L, column C: problem`` (1-based) from a PyYAML error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or first_line(exc, limit=None)
    if mark is None:
        return str(problem)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def closest(word: str, choices: Any) -> str | None:
    """The choice a typo most likely meant (difflib, cutoff 0.6), or None."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Any) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"include cycle: {' -> '.join(p.name for p in (*seen, path))}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = unshare(yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {})
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name} is not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name} must be a YAML mapping at the top level")
    include = data.pop("include", None)
    if include:
        includes = [include] if isinstance(include, str) else list(include)
        base: dict[str, Any] = {}
        for inc in includes:
            base = deep_merge(base, _read_yaml(path.parent / inc, (*seen, path)))
        data = deep_merge(base, data)
    return data


def apply_override(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``a.b.c=value`` to the raw config mapping."""
    from pipelines.stages import STAGES

    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key=value, e.g. extract_frames.num_frames=4")
    dotted, raw = assignment.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ConfigError(f"--set {assignment!r}: empty key")
    if keys[0] in STAGES:
        keys = ["stages", *keys]
    elif keys[0] not in CaseStudyConfig.model_fields:
        meant = closest(keys[0], [*CaseStudyConfig.model_fields, *STAGES])
        raise ConfigError(f"--set {dotted}: unknown {'stage' if meant in STAGES else 'key'} {keys[0]!r}"
                          + (f"; did you mean {meant!r}?" if meant
                             else f"; top-level keys: {', '.join(CaseStudyConfig.model_fields)}, or a stage name"))
    if keys[0] == "stages" and len(keys) > 1 and keys[1] not in (data.get("stages") or {}):
        present = list(data.get("stages") or {})
        raise ConfigError(f"--set {dotted}: stage {keys[1]!r} is not in this config"
                          + (did_you_mean(keys[1], present) or f" (stages: {', '.join(present) or 'none'})"))
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    out = copy.deepcopy(data)
    if keys[0] == "stages" and len(keys) == 2 and value is None:  # like `stage: null` in a variant
        out["stages"].pop(keys[1], None)
        return out
    node = out
    for key in keys[:-1]:
        if node.get(key) is None:
            node[key] = {}
        if not isinstance(node[key], dict):
            raise ConfigError(f"--set {dotted}: {key!r} is not a mapping")
        node = node[key]
    node[keys[-1]] = value
    return out


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid keys of the mapping at ``loc`` inside ``model`` (through nested models and
    ``dict[str, Model]`` values); empty when the path leaves the typed part."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return []
        args = [a for a in typing.get_args(current) if a is not type(None)]  # Optional[X] -> X
        if typing.get_origin(current) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
            current = args[0]
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _describe(exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> str:
    msgs = []
    for err in exc.errors():
        where = ".".join(str(p) for p in (*([prefix] if prefix else []), *err["loc"]))
        if err["type"] == "extra_forbidden":
            valid = _fields_at(model, tuple(err["loc"][:-1])) if model is not None else []
            msgs.append(f"unknown key '{where}'" + did_you_mean(err["loc"][-1], valid))
        elif err["type"] == "missing":
            msgs.append(f"missing key '{where}'")
        else:
            msgs.append(f"'{where}': {err['msg']}")
    return "; ".join(msgs)


def validate_config(data: dict[str, Any], source: str = "config") -> CaseStudyConfig:
    from pipelines.stages import STAGES

    if isinstance(data.get("stages"), dict):
        data = {**data, "stages": order_stages(data["stages"])}
    try:
        config = CaseStudyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc, model=CaseStudyConfig)}") from None
    if not config.stages:
        raise ConfigError(f"{source}: 'stages' is empty; list at least one stage")
    from pipelines.prompts import use_study_prompts

    try:
        use_study_prompts(config.prompts_dir)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    from pipelines.tasks import get_task

    try:
        get_task(config.task)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    for position, name in enumerate(config.stages):
        if name not in STAGES:
            raise ConfigError(f"{source}: unknown stage 'stages.{name}'"
                              + (did_you_mean(name, STAGES) or f"; known stages: {', '.join(sorted(STAGES))}"))
        spec = STAGES[name]
        try:
            config.stage_config(name)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {_describe(exc, f'stages.{name}', spec.config_cls)}") from None
        earlier = list(config.stages)[:position]
        for need in spec.needs:
            if need not in config.stages:
                raise ConfigError(f"{source}: stage {name!r} needs stage {need!r}, which this config does not "
                                  f"have; add {need!r} or remove {name!r}")
            if need not in earlier:
                raise ConfigError(f"{source}: stage {name!r} needs {need!r} to run before it")
        for used in spec.uses:
            if used in config.stages and used not in earlier:
                raise ConfigError(f"{source}: stage {name!r} uses {used!r}; list {used!r} before it")
        stage_cfg = config.stage_config(name)
        if spec.check is not None:
            try:
                spec.check(stage_cfg, list(config.stages))
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        from pipelines.prompts import load_prompt

        for prompt in spec.prompt_names(stage_cfg):
            try:
                load_prompt(prompt)
            except ConfigError as exc:
                raise ConfigError(f"{source}: stages.{name}: {exc}") from None
    return config


def load_config(path: str | Path, overrides: list[str] | None = None) -> CaseStudyConfig:
    """Read, merge includes, apply ``--set`` overrides and validate a case-study config."""
    path = Path(path)
    data = _read_yaml(path)
    for assignment in overrides or []:
        data = apply_override(data, assignment)
    if isinstance(data.get("prompts_dir"), str):  # relative to the config file, like include:
        data["prompts_dir"] = str((path.parent / data["prompts_dir"]).resolve())
    source = path.name + (" with --set " + " ".join(overrides) if overrides else "")
    return validate_config(data, source=source)
