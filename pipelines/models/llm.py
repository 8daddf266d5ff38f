"""Language models behind LangChain chat models, with every call cached.

A **backend** builds a LangChain ``BaseChatModel`` from an ``llm`` config block and declares
what it can do (:class:`LLMBackend`): whether its answers come from a server this process does
not control (then requests go out concurrently and are retried), how it takes a JSON schema,
whether it can score labels, whether its model is a local file. The rest of m2t asks the
declaration, never the backend's name, so adding a backend is one file plus its line in
``LLM_BACKENDS`` below:

* ``local``: a transformers causal LM from an id in the local HF cache or a directory
  (``llm_local.py``); it can also score each allowed label's log-likelihood, the last resort of
  label extraction;
* ``openai``: any OpenAI-compatible endpoint (vLLM, SGLang, Ollama, llama.cpp server, OpenAI),
  ``llm_openai.py``;
* ``llamacpp`` (optional extra): a GGUF file run by llama.cpp, JSON constrained by grammar,
  ``llm_llamacpp.py``;
* ``onnx``: an int4 ONNX folder run by onnxruntime-genai (prebuilt, installed by ``make
  setup``), JSON constrained by llguidance, ``llm_ortgenai.py``; the bundled models' ONNX forms
  are built once into the model cache by ``python -m pipelines.models.bundled prepare``.

``CachedLLM`` wraps one and caches each call under ``<cache>/llm/<key[:2]>/<key>.json``, the
key being sha256 of what changes the answer: backend, model, messages and generation
parameters (temperature, seed, max tokens) — never timeouts, URLs, keys, concurrency or retry
settings. Each entry also keeps the call's token usage, attempts and seconds. An answer's JSON
schema goes to the backend closed (:func:`closed_schema`: no key the schema does not name), and
the key holds the closed form.

Remote calls (``README``: Models at study scale): up to ``llm.max_concurrency`` requests in
flight per endpoint and model, shared by every stage and thread of the process (under Ray,
split between the actors); each answer is cached as it arrives, so a killed run loses only the
requests in flight; failed requests are retried with exponential backoff and jitter
(``Retry-After`` honoured) on 429, 408, 5xx, timeouts and dropped connections, never on other
4xx; a request that still fails becomes that item's error, in words.
"""

from __future__ import annotations

import importlib
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.errors import ConfigError, LLMError, first_line
from pipelines.files import atomic_write_json, read_json, sha256_json
from pipelines.registry import Registry

# (role, content), role in system / user / assistant; a user turn's content may be a list of
# parts: {"type": "text", "text": ...} and image_part(...) (backends that declare sees_images)
Content = str | list[dict[str, Any]]
Messages = list[tuple[str, Content]]


def closed_schema(schema: Any) -> Any:
    """``schema`` with ``"additionalProperties": false`` on every object that lists its
    ``properties`` and says nothing about other keys. JSON Schema admits any other key by
    default, so a constrained decoder would let a model wander into keys nobody asked for (a
    small model can loop writing them until ``max_tokens``); an object that sets
    ``additionalProperties`` itself keeps its choice. Returns a new schema; the argument is
    not changed."""
    if not isinstance(schema, dict):
        return schema
    closed = dict(schema)
    for key in _SUBSCHEMA_KEYS & schema.keys():
        closed[key] = closed_schema(schema[key])
    for key in _SUBSCHEMA_LIST_KEYS & schema.keys():
        if isinstance(schema[key], list):
            closed[key] = [closed_schema(part) for part in schema[key]]
    for key in _SUBSCHEMA_MAP_KEYS & schema.keys():
        if isinstance(schema[key], dict):
            closed[key] = {name: closed_schema(part) for name, part in schema[key].items()}
    if isinstance(schema.get("properties"), dict) and "additionalProperties" not in schema:
        closed["additionalProperties"] = False
    return closed


# where a JSON schema holds further schemas (enum, const, default hold values: left alone)
_SUBSCHEMA_KEYS = {"items", "additionalProperties", "contains", "not", "if", "then", "else"}
_SUBSCHEMA_LIST_KEYS = {"anyOf", "oneOf", "allOf", "prefixItems"}
_SUBSCHEMA_MAP_KEYS = {"properties", "patternProperties", "$defs", "definitions"}


@dataclass(frozen=True)
class LLMBackend:
    """What one LLM backend is and can do, declared once.

    Attributes:
        load: ``"module:function"``: the function takes an :class:`LLMConfig` and returns a
            LangChain chat model (imported only when a model is needed).
        remote: answers come from a server this process does not control: requests go out
            concurrently and are retried, the model is a name (not a file to fingerprint), and
            recomputing an answer needs the cache (the server batches across its users).
        schema_option: how ``invoke`` is asked to constrain an answer to a JSON schema:
            ``json_schema`` (the schema as a keyword), ``response_format`` (OpenAI's
            ``json_schema`` response format), or None (the backend cannot constrain).
        can_score: the chat model scores labels (``score_continuations``).
        uses_dtype: ``llm.dtype`` changes the answers (part of the cache key unless float32).
        sees_images: messages may carry images (:func:`image_part`), sent as data URLs.
        revision: raised when the backend's own code comes to give other answers to the same
            request (how a prompt is read, how a schema is enforced); part of the cache key
            from 1 on, so an answer cached before the change is never returned for it.
    """

    load: str
    remote: bool = False
    schema_option: Literal["json_schema", "response_format"] | None = "json_schema"
    can_score: bool = False
    uses_dtype: bool = False
    sees_images: bool = False
    revision: int = 0

    def build(self, cfg: LLMConfig) -> Any:
        module, function = self.load.split(":")
        return getattr(importlib.import_module(module), function)(cfg)


LLM_BACKENDS: Registry[LLMBackend] = Registry("LLM backend")
LLM_BACKENDS.register("local", LLMBackend("pipelines.models.llm_local:from_config", can_score=True, uses_dtype=True))
LLM_BACKENDS.register("openai", LLMBackend("pipelines.models.llm_openai:from_config", remote=True,
                                           schema_option="response_format", sees_images=True))
LLM_BACKENDS.register("llamacpp", LLMBackend("pipelines.models.llm_llamacpp:from_config"))
# onnx revision 2: a prompt read in one chunk per message and one for the assistant's opener (1: the
# messages before the last as one chunk); schemas enforced by llguidance's own matcher
LLM_BACKENDS.register("onnx", LLMBackend("pipelines.models.llm_ortgenai:from_config", schema_option="json_schema",
                                         can_score=False, revision=2))


class Prices(BaseModel):
    """What a model's tokens cost (for usage reports and ``--dry-run``), per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input_per_million: float = Field(ge=0, description="price of a million prompt tokens")
    output_per_million: float = Field(ge=0, description="price of a million completion tokens")
    currency: str = "USD"

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1e6


class LLMConfig(BaseModel):
    """The ``llm`` block of a stage config.

    Settings that cannot change an answer (concurrency, retries, pacing, prices, timeouts of
    the client) are ``repr=False``: they stay out of the stage's config hash, so changing them
    recomputes nothing."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field("local", description="a name of LLM_BACKENDS: local (transformers), openai (any "
                                              "OpenAI-compatible server), llamacpp")
    model: str = Field("bundled:smollm2-135m-instruct",
                       description="local: id or directory; openai: model name; llamacpp: a .gguf file "
                                   "(bundled:smollm2-135m-instruct-gguf)")
    base_url: str | None = Field(None, description="openai: endpoint, e.g. http://127.0.0.1:8000/v1 (or $OPENAI_BASE_URL)")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable holding the key")
    temperature: float = Field(0.0, ge=0)
    seed: int = 0
    max_tokens: int = Field(256, ge=1)
    timeout_s: float = Field(120.0, gt=0, description="openai: seconds before a request is given up")
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = Field(
        "float32", description="local: weights' dtype; bfloat16 is about 2x faster on CPU for a 0.5B model")
    batch_size: int = Field(1, ge=1, repr=False,
                            description="changes nothing: every answer is generated alone, since a padded batch "
                                        "changes greedy answers (an answer must not depend on its batch-mates); "
                                        "accepted so that configs and runs that set it still load")
    tokenizer: str | None = Field(None, description="a tokenizer.json (or its folder) to count prompt budgets in "
                                                     "this model's tokens; default: the local model's own, else "
                                                     "characters / 4")
    max_concurrency: int = Field(8, ge=1, repr=False,
                                 description="remote backends: requests in flight at most, per endpoint and model, "
                                             "for the whole run (every stage and worker together)")
    max_retries: int = Field(6, ge=0, repr=False,
                             description="remote backends: retries of a request after a 429, 408, 5xx, timeout or "
                                         "dropped connection (exponential backoff with jitter, Retry-After honoured)")
    retry_wait_s: float = Field(1.0, gt=0, repr=False, description="remote backends: first backoff, doubled per retry")
    max_retry_wait_s: float = Field(60.0, gt=0, repr=False, description="remote backends: longest wait between tries")
    requests_per_minute: float | None = Field(None, gt=0, repr=False,
                                              description="remote backends: pace requests to this rate")
    tokens_per_minute: float | None = Field(None, gt=0, repr=False,
                                            description="remote backends: pace requests so that prompt (characters / 4) "
                                                        "plus max_tokens stays under this rate")
    prices: Prices | None = Field(None, repr=False, description="price per million prompt / completion tokens: "
                                                                "usage then reports cost, --dry-run estimates it")
    max_images: int | None = Field(None, ge=1, repr=False,
                                   description="vision models: images the model takes in one request (its limit; a "
                                               "stage that would send more is a config error, before any request)")
    max_image_side: int | None = Field(None, ge=32, repr=False,
                                       description="vision models: longest side in pixels of an image sent; larger "
                                                   "frames are downscaled first (the size sent is in the cache key)")

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return LLM_BACKENDS.check(value)

    @property
    def spec(self) -> LLMBackend:
        """The backend's declaration."""
        return LLM_BACKENDS.get(self.backend)

    @property
    def reproducible(self) -> bool:
        """Whether recomputing an answer gives it again: greedy decoding on this machine's own
        runtime does (every answer is generated alone); a remote server batches requests across
        its users, and sampled answers hang on every bit of the arithmetic, so only the cache
        gives those back."""
        return not self.spec.remote and self.temperature == 0

    def cache_identity(self) -> dict[str, Any]:
        from pipelines.models.bundled import model_fingerprint

        model = self.model if self.spec.remote else model_fingerprint(self.model)
        identity = {"backend": self.backend, "model": model, "temperature": self.temperature, "seed": self.seed,
                    "max_tokens": self.max_tokens}
        if self.spec.uses_dtype and self.dtype != "float32":  # float32 keys stay as they were
            identity["dtype"] = self.dtype
        if self.spec.revision:  # revision 0 keys stay as they were
            identity["revision"] = self.spec.revision
        return identity

    def weights_identity(self) -> dict[str, Any]:
        """What decides which weights a process loads (backend, model, dtype, device; for a
        remote backend its endpoint): two ``llm`` blocks that differ only in generation
        settings (``max_tokens``, ``temperature``, ``seed``, which are sent per call) share
        one loaded model."""
        identity = {"backend": self.backend, "model": self.model}
        if self.spec.remote:
            identity.update(endpoint=self.endpoint(), api_key_env=self.api_key_env, timeout_s=self.timeout_s)
        else:
            identity.update(device=self.device, dtype=self.dtype if self.spec.uses_dtype else None)
        return identity

    def endpoint(self) -> str:
        """Where a remote backend's requests go (its config or ``$OPENAI_BASE_URL``), for limits and messages."""
        import os

        return self.base_url or os.environ.get("OPENAI_BASE_URL") or "the OpenAI default URL"


def load_chat_model(cfg: LLMConfig) -> Any:
    """A LangChain chat model for ``cfg`` (heavy imports happen here, not at module import)."""
    return cfg.spec.build(cfg)


def image_part(path: str | Path, max_side: int | None = None) -> dict[str, Any]:
    """A message part holding the image file at ``path`` (a JPEG extract_frames wrote, say),
    sent downscaled to ``max_side`` pixels on its longest side when larger. The cache key holds
    the file's sha256 and that size, never the path."""
    return {"type": "image", "path": str(path), "max_side": max_side}


def text_of(content: Content) -> str:
    """The text of a message's content (its text parts joined, images left out)."""
    if isinstance(content, str):
        return content
    return "\n".join(str(part.get("text", "")) for part in content if part.get("type") == "text")


def images_in(messages: Messages) -> list[dict[str, Any]]:
    """The image parts of ``messages``, in order."""
    return [part for _, content in messages if not isinstance(content, str)
            for part in content if part.get("type") == "image"]


def _image_bytes(part: dict[str, Any]) -> tuple[bytes, str]:
    """The bytes sent for an image part and their MIME type: the file as it is when it fits
    ``max_side`` and is a JPEG or PNG, else the image downscaled and saved as JPEG (quality 90)."""
    path = Path(part["path"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LLMError(f"cannot read the image {path} ({exc.strerror or exc})") from None
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(data)) as image:
        max_side = part.get("max_side")
        if (not max_side or max(image.size) <= max_side) and image.format in ("JPEG", "PNG"):
            return data, f"image/{image.format.lower()}"
        rgb = image.convert("RGB")
        if max_side and max(rgb.size) > max_side:
            rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = BytesIO()
        rgb.save(out, "JPEG", quality=90)
        return out.getvalue(), "image/jpeg"


def _wire_content(content: Content) -> Any:
    """A message's content as LangChain sends it: a string, or text and ``image_url`` parts
    (images as base64 data URLs, the form OpenAI-compatible vision endpoints take)."""
    if isinstance(content, str):
        return content
    import base64

    parts: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "text":
            parts.append({"type": "text", "text": str(part["text"])})
        elif part.get("type") == "image":
            data, mime = _image_bytes(part)
            parts.append({"type": "image_url",
                          "image_url": {"url": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"}})
        else:
            raise ConfigError(f"unknown message part type {part.get('type')!r}; use text or image")
    return parts


def to_langchain(messages: Messages) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    try:
        return [kinds[role](content=_wire_content(content)) for role, content in messages]
    except KeyError as exc:
        raise ConfigError(f"unknown message role {exc.args[0]!r}") from None


def _keyed_content(content: Content) -> Any:
    """A message's content as the cache key holds it: images by sha256 of the file and the
    longest side sent, never by path (a moved run directory keeps its keys)."""
    if isinstance(content, str):
        return content
    from pipelines.files import sha256_file

    keyed = []
    for part in content:
        if part.get("type") == "image":
            try:
                digest = sha256_file(Path(part["path"]))
            except OSError as exc:
                raise LLMError(f"cannot read the image {part['path']} ({exc.strerror or exc})") from None
            keyed.append({"type": "image", "sha256": digest, "max_side": part.get("max_side")})
        else:
            keyed.append(part)
    return keyed


def describe_error(exc: BaseException) -> str:
    """One line: the exception type, its first line, and a server's ``detail`` when given
    (OpenAI-compatible servers explain 400s there; the client's message omits it)."""
    text = first_line(exc) if str(exc).strip() else ""
    body = getattr(exc, "body", None)
    detail = body.get("detail") if isinstance(body, dict) else None
    if detail:
        text += f" ({' '.join(str(detail).split())[:200]})"
    return f"{type(exc).__name__}: {text}".rstrip(": ")


# ----------------------------------------------------------------------------- remote requests
_LIMITS_LOCK = threading.Lock()
_PEERS = [1]  # processes sharing each remote endpoint's limits (Ray actors of one stage)


def share_requests_with(peers: int) -> None:
    """Declare this process one of ``peers`` workers calling the same endpoints at once (a Ray
    stage's actors): each then keeps ``max_concurrency // peers`` requests in flight (at least
    one), so the configured limit holds for the whole run, not per worker."""
    _PEERS[0] = max(1, int(peers))


class _Slots:
    """At most ``limit`` requests in flight to one endpoint and model (every thread of the process)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0
        self._free = threading.Condition()

    def __enter__(self) -> None:
        with self._free:
            while self.busy >= self.limit:
                self._free.wait()
            self.busy += 1

    def __exit__(self, *exc: object) -> None:
        with self._free:
            self.busy -= 1
            self._free.notify()


class _Pace:
    """Requests and tokens sent to one endpoint and model in the last minute, to stay under
    ``llm.requests_per_minute`` / ``tokens_per_minute``."""

    def __init__(self) -> None:
        self.sent: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def wait(self, requests_per_minute: float | None, tokens_per_minute: float | None, tokens: int) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self.sent and now - self.sent[0][0] >= 60.0:
                    self.sent.popleft()
                used = sum(t for _, t in self.sent)
                if ((requests_per_minute is None or len(self.sent) < requests_per_minute)
                        and (tokens_per_minute is None or not self.sent or used + tokens <= tokens_per_minute)):
                    self.sent.append((now, tokens))
                    return
                delay = 60.0 - (now - self.sent[0][0])
            time.sleep(max(delay, 0.01))


_SLOTS: dict[tuple[str, str], _Slots] = {}
_PACES: dict[tuple[str, str], _Pace] = {}


def _slots_for(cfg: LLMConfig) -> _Slots:
    limit = max(1, cfg.max_concurrency // _PEERS[0])
    key = (cfg.endpoint(), cfg.model)
    with _LIMITS_LOCK:
        slots = _SLOTS.setdefault(key, _Slots(limit))
        slots.limit = min(slots.limit, limit)  # two configs of one endpoint and model: the stricter holds
        return slots


def _pace_for(cfg: LLMConfig) -> _Pace:
    with _LIMITS_LOCK:
        return _PACES.setdefault((cfg.endpoint(), cfg.model), _Pace())


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def retryable(exc: BaseException) -> bool:
    """Whether trying the request again can help: rate limits (429, unless the quota is
    exhausted), 408, 409, 425 and 5xx, timeouts and dropped connections. Never other 4xx: a bad
    request or a wrong key fails the same way every time."""
    status = _status(exc)
    if status is not None:
        if status == 429:
            return "insufficient_quota" not in f"{getattr(exc, 'code', '')} {exc}"
        return status in (408, 409, 425) or status >= 500
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"APIConnectionError", "APITimeoutError", "TimeoutException", "TransportError"}) or isinstance(
        exc, (TimeoutError, ConnectionError))


def retry_after_s(exc: BaseException) -> float | None:
    """The wait a server asked for (``retry-after-ms``, ``Retry-After`` in seconds or as an
    HTTP date), or None."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(float(headers["retry-after-ms"]) / 1000.0, 0.0)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


@dataclass
class Usage:
    """What the calls of one stage to one model took: requests sent (computed answers),
    answers from the cache, tokens, retries, failures and seconds."""

    model: str
    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    failed: int = 0
    seconds: float = 0.0

    def as_dict(self, prices: Prices | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {**vars(self), "seconds": round(self.seconds, 3)}
        if prices is not None:
            out["cost"] = round(prices.cost(self.prompt_tokens, self.completion_tokens), 6)
            out["currency"] = prices.currency
        return out


def merge_usage(*reports: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Usage reports (stage -> one dict per model) summed, e.g. those of several Ray actors."""
    merged: dict[str, dict[str, dict[str, Any]]] = {}
    for report in reports:
        for stage, rows in report.items():
            for row in rows:
                into = merged.setdefault(stage, {}).setdefault(row["model"], {"model": row["model"]})
                for key, value in row.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        into[key] = round(into.get(key, 0) + value, 6)
                    elif key not in into:
                        into[key] = value
    return {stage: list(rows.values()) for stage, rows in merged.items()}


@dataclass
class _Call:
    attempts: int = 0
    started: float = field(default_factory=time.monotonic)


def _cut_short(exc: BaseException) -> Any:
    """The answer inside the error the OpenAI client raises when a schema-constrained answer
    reached ``max_tokens`` (``LengthFinishReasonError``): a truncated answer is still the
    model's answer, for the stage's reader to judge (and record as failed extraction), not a
    failed request. None for any other error."""
    completion = getattr(exc, "completion", None)
    if type(exc).__name__ != "LengthFinishReasonError" or not getattr(completion, "choices", None):
        return None
    from langchain_core.messages import AIMessage

    usage = getattr(completion, "usage", None)
    return AIMessage(content=completion.choices[0].message.content or "",
                     usage_metadata={"input_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
                                     "output_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
                                     "total_tokens": int(getattr(usage, "total_tokens", 0) or 0)})


class CachedLLM:
    """One chat model plus its call cache; counts calls, cache hits and usage per stage."""

    def __init__(self, cfg: LLMConfig, cache_dir: Path, chat: Any = None,
                 load_chat: Callable[[], Any] | None = None) -> None:
        """Args:
            cfg: The ``llm`` block.
            cache_dir: The cache root (answers go below ``<cache_dir>/llm``).
            chat: A ready chat model (tests), else loaded on first need.
            load_chat: How to get the chat model when needed (the stage context's model pool,
                which loads each model's weights once per process); default: load it here.
        """
        self.cfg = cfg
        self.spec = cfg.spec
        self.cache_dir = Path(cache_dir) / "llm"
        self._chat = chat
        self._load_chat = load_chat
        self.calls = 0
        self.hits = 0
        self.identity = cfg.cache_identity()  # once: it stamps the weights' files
        self.schema_refused = False  # an openai server answered 400/422 to response_format
        self.notes: list[str] = []  # what the run should tell the user once (the runner collects them)
        self.usage: dict[str, Usage] = {}  # by stage name ("" outside a stage)
        self.auth_failure: str | None = None  # a 401/403: later requests fail at once with this reason
        self._lock = threading.RLock()

    @property
    def chat(self) -> Any:
        with self._lock:
            if self._chat is None:
                self._chat = self._load_chat() if self._load_chat else load_chat_model(self.cfg)
            return self._chat

    def for_stage(self, stage: str) -> StageLLM:
        """This model as ``stage`` uses it: its calls are counted under the stage's name."""
        return StageLLM(self, stage)

    @property
    def endpoint(self) -> str:
        return self.cfg.endpoint()

    @property
    def can_score(self) -> bool:
        """Whether label log-likelihoods are available; declared by the backend, so that asking
        loads no model."""
        return self.spec.can_score if self._chat is None else hasattr(self._chat, "score_continuations")

    def _constrain(self, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        """The schema the backend is asked for: ``schema`` closed (:func:`closed_schema`), or
        None when there is none or the server refused schemas."""
        if not schema or (self.spec.schema_option == "response_format" and self.schema_refused):
            return None
        return closed_schema(schema)

    def _schema_options(self, schema: dict[str, Any] | None) -> dict[str, Any]:
        """How the backend is asked to constrain its answer to ``schema`` (its declaration)."""
        if not schema or self.spec.schema_option is None:
            return {}
        if self.spec.schema_option == "response_format":
            return {"response_format": {"type": "json_schema",
                                        "json_schema": {"name": "answer", "schema": schema, "strict": False}}}
        return {"json_schema": schema}

    def _usage(self, stage: str) -> Usage:
        return self.usage.setdefault(stage, Usage(model=self.cfg.model))

    def usage_report(self) -> dict[str, list[dict[str, Any]]]:
        """Usage per stage (one row per model), priced when ``llm.prices`` is set."""
        with self._lock:
            return {stage: [u.as_dict(self.cfg.prices)] for stage, u in self.usage.items()}

    # ------------------------------------------------------------------------- calls
    def complete(self, messages: Messages, schema: dict[str, Any] | None = None, *, stage: str = "") -> str:
        """The model's answer to ``messages`` (cached). With ``schema``, the backend constrains
        the answer to that JSON schema as it declares (local transformers via xgrammar,
        llama.cpp, ``response_format`` for OpenAI-compatible servers; a server that refuses it
        gets the plain request and the run one note). Remote requests are paced, limited and
        retried (module docstring). Raises :class:`LLMError` when the model cannot answer
        (server down, retries exhausted, a wrong key ...), naming endpoint, status and attempts."""
        messages = self._checked_images(messages)
        constrain = self._constrain(schema)
        payload = self._payload(messages, constrain)
        path = self._path("complete", payload)
        cached = self._read(path, stage)
        if cached is not None:
            return cached
        reply, meta = self._invoke(messages, constrain, stage)
        if reply is None:  # the server refused the schema: the plain request (its own cache entry)
            return self.complete(messages, None, stage=stage)
        atomic_write_json(path, {"kind": "complete", "llm": self.identity, **payload, "value": reply, **meta})
        return reply

    def _checked_images(self, messages: Messages) -> Messages:
        """``messages`` with each image's longest side capped by ``llm.max_image_side``; a
        backend that cannot see images, or more images than ``llm.max_images``, is a
        :class:`ConfigError` before anything is sent (not a server's 500 mid-run)."""
        images = images_in(messages)
        if not images:
            return messages
        if not self.spec.sees_images:
            raise ConfigError(f"the {self.cfg.backend} LLM backend cannot take images; use a backend that "
                              f"can (openai: any OpenAI-compatible vision endpoint)")
        if self.cfg.max_images is not None and len(images) > self.cfg.max_images:
            raise ConfigError(f"{len(images)} images in one request to {self.cfg.model!r}, whose limit is "
                              f"llm.max_images = {self.cfg.max_images}; send fewer frames (max_frames) or raise "
                              f"the limit if the model takes more")
        cap = self.cfg.max_image_side
        if cap is None:
            return messages

        def capped(content: Content) -> Content:
            if isinstance(content, str):
                return content
            return [{**part, "max_side": min(cap, part.get("max_side") or cap)} if part.get("type") == "image"
                    else part for part in content]

        return [(role, capped(content)) for role, content in messages]

    def answer_all(self, requests: list[tuple[Messages, dict[str, Any] | None]], *,
                   stage: str = "") -> list[str | LLMError]:
        """Answers to several ``(messages, schema)`` requests in request order, each as
        :meth:`complete` gives it (same cache entries), a failed request as its
        :class:`LLMError` (errors are values: one failure fails only its item). A remote
        backend gets up to ``llm.max_concurrency`` of them in flight at once; a local one
        answers them one by one, each alone (never a padded batch: ``README``, Reproducibility)."""

        def one(request: tuple[Messages, dict[str, Any] | None]) -> str | LLMError:
            try:
                return self.complete(request[0], request[1], stage=stage)
            except LLMError as exc:
                return exc

        if not self.spec.remote or len(requests) < 2:
            return [one(r) for r in requests]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(requests), self.cfg.max_concurrency),
                                thread_name_prefix="m2t-llm") as pool:
            return list(pool.map(one, requests))

    def complete_many(self, requests: list[tuple[Messages, dict[str, Any] | None]], *, stage: str = "") -> list[str]:
        """:meth:`answer_all` for callers whose requests stand or fall together: the first
        failure is raised (after every request was tried, so the others are cached)."""
        replies = self.answer_all(requests, stage=stage)
        for reply in replies:
            if isinstance(reply, LLMError):
                raise reply
        return [r for r in replies if not isinstance(r, LLMError)]

    def _invoke(self, messages: Messages, constrain: dict[str, Any] | None,
                stage: str) -> tuple[str | None, dict[str, Any]]:
        """One request with the backend's policy: paced, within the endpoint's slots and
        retried when remote; ``(None, {})`` when a server refused the JSON schema."""
        if self.auth_failure:
            raise LLMError(self.auth_failure)
        # generation settings go with each call: one loaded model serves every llm block that
        # differs only in them (the model pool keys on weights_identity)
        options = {"max_tokens": self.cfg.max_tokens, "temperature": self.cfg.temperature, "seed": self.cfg.seed,
                   **self._schema_options(constrain)}
        call = _Call()
        remote = self.spec.remote

        def once() -> Any:
            if remote:
                _pace_for(self.cfg).wait(self.cfg.requests_per_minute, self.cfg.tokens_per_minute,
                                         sum(len(text_of(text)) for _, text in messages) // 4 + self.cfg.max_tokens)
                with _slots_for(self.cfg):
                    call.attempts += 1
                    return self.chat.invoke(to_langchain(messages), **options)
            call.attempts += 1
            return self.chat.invoke(to_langchain(messages), **options)

        try:
            if remote and self.cfg.max_retries:
                import tenacity

                reply = tenacity.Retrying(
                    stop=tenacity.stop_after_attempt(self.cfg.max_retries + 1), wait=self._backoff,
                    retry=tenacity.retry_if_exception(retryable), reraise=True, sleep=time.sleep,
                )(once)
            else:
                reply = once()
        except (ConfigError, LLMError):
            raise
        except Exception as exc:  # network and server errors of any client library
            reply = _cut_short(exc)
            if reply is None:
                return self._failed(exc, constrain, call, stage)
        seconds = time.monotonic() - call.started
        usage = getattr(reply, "usage_metadata", None) or {}
        meta = {"usage": {"prompt_tokens": int(usage.get("input_tokens") or 0),
                          "completion_tokens": int(usage.get("output_tokens") or 0)},
                "attempts": call.attempts, "seconds": round(seconds, 3)}
        with self._lock:
            self.calls += 1
            counted = self._usage(stage)
            counted.requests += 1
            counted.prompt_tokens += meta["usage"]["prompt_tokens"]
            counted.completion_tokens += meta["usage"]["completion_tokens"]
            counted.retries += call.attempts - 1
            counted.seconds += seconds
        content = reply.content
        return (content if isinstance(content, str) else str(content)), meta

    def _failed(self, exc: Exception, constrain: dict[str, Any] | None, call: _Call,
                stage: str) -> tuple[None, dict[str, Any]]:
        status = _status(exc)
        with self._lock:
            counted = self._usage(stage)
            counted.retries += max(call.attempts - 1, 0)
            counted.seconds += time.monotonic() - call.started
            if constrain and self.spec.schema_option == "response_format" and status in (400, 422):
                if not self.schema_refused:  # the plain request from now on, one note per run
                    self.schema_refused = True
                    self.notes.append(f"{self.cfg.model!r} at {self.endpoint} refused response_format with a JSON "
                                      f"schema ({describe_error(exc)}); answers are asked for without it")
                return None, {}
            counted.failed += 1
        where = f" at {self.endpoint}" if self.spec.remote else ""
        tries = f" after {call.attempts} attempts" if call.attempts > 1 else ""
        message = f"{self.cfg.backend} model {self.cfg.model!r}{where} did not answer{tries}: {describe_error(exc)}"
        if status in (401, 403):
            self.auth_failure = f"{message} (check the key in ${self.cfg.api_key_env}; no further requests are sent)"
            raise LLMError(self.auth_failure) from None
        raise LLMError(message) from None

    def _backoff(self, state: Any) -> float:
        """Seconds before the next try: the server's ``Retry-After`` when it sent one (capped),
        else exponential (``retry_wait_s`` doubled per try, capped) with full jitter on its
        upper half, so that many clients do not come back at once."""
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_s(exc) if exc is not None else None
        if asked is not None:
            return min(asked, self.cfg.max_retry_wait_s)
        ceiling = min(self.cfg.max_retry_wait_s, self.cfg.retry_wait_s * 2 ** (state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _payload(self, messages: Messages, constrain: dict[str, Any] | None) -> dict[str, Any]:
        payload: dict[str, Any] = {"messages": [(role, _keyed_content(content)) for role, content in messages]}
        if constrain:
            payload["schema"] = constrain
        return payload

    def _path(self, kind: str, payload: dict[str, Any]) -> Path:
        key = sha256_json({"kind": kind, "llm": self.identity, **payload})
        return self.cache_dir / key[:2] / f"{key}.json"

    def _read(self, path: Path, stage: str = "") -> Any:
        """The cached value at ``path`` (a hit counted), or ``None``."""
        if not path.is_file():
            return None
        try:
            value = read_json(path)["value"]
        except (OSError, ValueError, KeyError):
            return None
        with self._lock:
            self.hits += 1
            self._usage(stage).cached += 1
        return value

    def score_labels(self, messages: Messages, labels: list[str], *, stage: str = "") -> dict[str, float]:
        """Log-likelihood of each label as the start of the answer (cached; backends that
        declare ``can_score`` only)."""
        if not self.can_score:
            raise LLMError(f"{self.cfg.backend} backend cannot score labels")
        payload = {"messages": messages, "labels": labels}
        path = self._path("score", payload)
        cached = self._read(path, stage)
        if cached is not None:
            return cached
        started = time.monotonic()
        scores = self.chat.score_continuations(to_langchain(messages), labels)
        value = {label: float(s) for label, s in zip(labels, scores)}
        with self._lock:
            self.calls += 1
            self._usage(stage).requests += 1
            self._usage(stage).seconds += time.monotonic() - started
        atomic_write_json(path, {"kind": "score", "llm": self.identity, **payload, "value": value})
        return value


class StageLLM:
    """A :class:`CachedLLM` as one stage sees it (``StageContext.llm``): the same model and
    cache, its calls counted under the stage's name."""

    def __init__(self, llm: CachedLLM, stage: str) -> None:
        self.llm = llm
        self.stage = stage

    def complete(self, messages: Messages, schema: dict[str, Any] | None = None) -> str:
        return self.llm.complete(messages, schema, stage=self.stage)

    def answer_all(self, requests: list[tuple[Messages, dict[str, Any] | None]]) -> list[str | LLMError]:
        return self.llm.answer_all(requests, stage=self.stage)

    def complete_many(self, requests: list[tuple[Messages, dict[str, Any] | None]]) -> list[str]:
        return self.llm.complete_many(requests, stage=self.stage)

    def score_labels(self, messages: Messages, labels: list[str]) -> dict[str, float]:
        return self.llm.score_labels(messages, labels, stage=self.stage)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.llm, name)



def usage_lines(report: dict[str, list[dict[str, Any]]]) -> list[str]:
    """``stats.json``'s ``llm_usage`` in words, one line per stage and model that sent requests
    or read answers from the cache (what ``m2t run`` ends with and ``m2t status`` shows)."""
    lines = []
    for stage, rows in report.items():
        for row in rows:
            if not (row.get("requests") or row.get("cached") or row.get("failed")):
                continue
            text = (f"{stage or '(outside a stage)'}: {row['model']}: {row.get('requests', 0):,} requests "
                    f"({row.get('cached', 0):,} answers from the cache), {row.get('prompt_tokens', 0):,} prompt + "
                    f"{row.get('completion_tokens', 0):,} completion tokens, {row.get('retries', 0):,} retries, "
                    f"{row.get('failed', 0):,} failed, {row.get('seconds', 0):.1f} s")
            if "cost" in row:
                text += f", {row['cost']:.4f} {row.get('currency', 'USD')}"
            lines.append(text)
    return lines
