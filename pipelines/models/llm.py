"""Language models behind LangChain chat models, with every call cached.

``load_chat_model`` builds a LangChain ``BaseChatModel`` for a backend:

* ``local``: a transformers causal LM from an id in the local HF cache or a directory
  (default ``bundled:smollm2-135m-instruct``), see ``llm_local.py``; it can also score each
  allowed label's log-likelihood, the last resort of label extraction;
* ``openai``: any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server, OpenAI), see
  ``llm_openai.py``;
* ``llamacpp`` (optional extra): a GGUF file run by llama.cpp, JSON constrained by grammar,
  see ``llm_llamacpp.py``.

``CachedLLM`` wraps one and caches each call under ``<cache>/llm/<key[:2]>/<key>.json``, the
key being sha256 of what changes the answer: backend, model, messages and generation
parameters (temperature, seed, max tokens) — never timeouts, URLs or keys.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.errors import ConfigError, LLMError
from pipelines.registry import Registry
from pipelines.store import atomic_write_json, read_json, sha256_json

Messages = list[tuple[str, str]]  # (role, content), role in system / user / assistant

# backends whose answers come from a server this process does not control
REMOTE_BACKENDS = frozenset({"openai"})


class LLMConfig(BaseModel):
    """The ``llm`` block of a stage config."""

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

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return LLM_BACKENDS.check(value)

    @property
    def reproducible(self) -> bool:
        """Whether recomputing an answer gives it again: greedy decoding on this machine's own
        runtime does (every answer is generated alone); a remote server batches requests across
        its users, and sampled answers hang on every bit of the arithmetic, so only the cache
        gives those back."""
        return self.backend not in REMOTE_BACKENDS and self.temperature == 0

    def cache_identity(self) -> dict[str, Any]:
        from pipelines.models.bundled import model_fingerprint

        model = model_fingerprint(self.model) if self.backend != "openai" else self.model
        identity = {"backend": self.backend, "model": model, "temperature": self.temperature, "seed": self.seed,
                    "max_tokens": self.max_tokens}
        if self.backend == "local" and self.dtype != "float32":  # float32 keys stay as they were
            identity["dtype"] = self.dtype
        return identity


def _local(cfg: LLMConfig) -> Any:
    from pipelines.models.llm_local import load_local_chat

    return load_local_chat(cfg.model, device=cfg.device, dtype=cfg.dtype, temperature=cfg.temperature,
                           seed=cfg.seed, max_tokens=cfg.max_tokens)


def _openai(cfg: LLMConfig) -> Any:
    from pipelines.models.llm_openai import load_openai_chat

    return load_openai_chat(cfg.model, base_url=cfg.base_url, api_key_env=cfg.api_key_env,
                            temperature=cfg.temperature, seed=cfg.seed, max_tokens=cfg.max_tokens,
                            timeout_s=cfg.timeout_s)


def _llamacpp(cfg: LLMConfig) -> Any:
    from pipelines.models.llm_llamacpp import load_llamacpp_chat

    return load_llamacpp_chat(cfg.model, temperature=cfg.temperature, seed=cfg.seed, max_tokens=cfg.max_tokens)


# name -> a function building the LangChain chat model for an LLMConfig (heavy imports inside)
LLM_BACKENDS: Registry[Callable[[LLMConfig], Any]] = Registry("LLM backend")
for _name, _loader in (("local", _local), ("openai", _openai), ("llamacpp", _llamacpp)):
    LLM_BACKENDS.register(_name, _loader)


def load_chat_model(cfg: LLMConfig) -> Any:
    """A LangChain chat model for ``cfg`` (heavy imports happen here, not at module import)."""
    return LLM_BACKENDS.get(cfg.backend)(cfg)


def to_langchain(messages: Messages) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    try:
        return [kinds[role](content=content) for role, content in messages]
    except KeyError as exc:
        raise ConfigError(f"unknown message role {exc.args[0]!r}") from None


def describe_error(exc: BaseException) -> str:
    """One line: the exception type, its first line, and a server's ``detail`` when given
    (OpenAI-compatible servers explain 400s there; the client's message omits it)."""
    text = str(exc).splitlines()[0][:200] if str(exc).strip() else ""
    body = getattr(exc, "body", None)
    detail = body.get("detail") if isinstance(body, dict) else None
    if detail:
        text += f" ({' '.join(str(detail).split())[:200]})"
    return f"{type(exc).__name__}: {text}".rstrip(": ")


class CachedLLM:
    """One chat model plus its call cache; counts calls and cache hits."""

    def __init__(self, cfg: LLMConfig, cache_dir: Path, chat: Any = None) -> None:
        self.cfg = cfg
        self.cache_dir = Path(cache_dir) / "llm"
        self._chat = chat
        self.calls = 0
        self.hits = 0
        self.identity = cfg.cache_identity()  # once: it stamps the weights' files
        self.schema_refused = False  # an openai server answered 400/422 to response_format
        self.notes: list[str] = []  # what the run should tell the user once (the runner collects them)

    @property
    def chat(self) -> Any:
        if self._chat is None:
            self._chat = load_chat_model(self.cfg)
        return self._chat

    def _schema_options(self, schema: dict[str, Any] | None) -> dict[str, Any]:
        """How each backend is asked to constrain its answer to ``schema``: local and llama.cpp
        take it directly; OpenAI-compatible servers (vLLM, llama.cpp server, SGLang, OpenAI)
        take ``response_format`` of type ``json_schema``."""
        if not schema:
            return {}
        if self.cfg.backend == "openai":
            return {"response_format": {"type": "json_schema",
                                        "json_schema": {"name": "answer", "schema": schema, "strict": False}}}
        return {"json_schema": schema}

    @property
    def endpoint(self) -> str:
        """The URL an ``openai`` backend calls (its config or ``$OPENAI_BASE_URL``), for error messages."""
        import os

        return self.cfg.base_url or os.environ.get("OPENAI_BASE_URL") or "the OpenAI default URL"

    @property
    def can_score(self) -> bool:
        """Whether label log-likelihoods are available (local transformers models only);
        decided by the backend, so that asking loads no model."""
        return self.cfg.backend == "local" if self._chat is None else hasattr(self._chat, "score_continuations")

    def _cached(self, kind: str, payload: dict[str, Any], compute: Any) -> Any:
        path = self._path(kind, payload)
        cached = self._read(path)
        if cached is not None:
            return cached
        value = compute()
        self.calls += 1
        atomic_write_json(path, {"kind": kind, "llm": self.identity, **payload, "value": value})
        return value

    def complete(self, messages: Messages, schema: dict[str, Any] | None = None) -> str:
        """The model's answer to ``messages`` (cached). With ``schema``, the backend constrains
        the answer to that JSON schema (local transformers via xgrammar, llama.cpp, and
        ``response_format`` for OpenAI-compatible servers; a server that refuses it gets the
        plain request and the run one note). Raises :class:`LLMError` when
        the model cannot answer (server down, timeout ...)."""
        constrain = schema if schema and (self.cfg.backend != "openai" or not self.schema_refused) else None

        def call() -> str:
            try:
                reply = self.chat.invoke(to_langchain(messages), **self._schema_options(constrain))
            except (ConfigError, LLMError):
                raise
            except Exception as exc:  # network and server errors of any client library
                if constrain and self.cfg.backend == "openai" and getattr(exc, "status_code", None) in (400, 422):
                    # the server does not take response_format: the plain request, one note per run
                    self.schema_refused = True
                    self.notes.append(f"{self.cfg.model!r} at {self.endpoint} refused response_format with a JSON "
                                      f"schema ({describe_error(exc)}); answers are asked for without it")
                    return self.complete(messages, None)
                where = f" at {self.endpoint}" if self.cfg.backend == "openai" else ""
                raise LLMError(f"{self.cfg.backend} model {self.cfg.model!r}{where} did not answer: "
                               f"{describe_error(exc)}") from None
            content = reply.content
            return content if isinstance(content, str) else str(content)

        return self._cached("complete", self._payload(messages, constrain), call)

    def complete_many(self, requests: list[tuple[Messages, dict[str, Any] | None]]) -> list[str]:
        """Answers to several ``(messages, schema)`` requests, as :meth:`complete` gives them
        one by one (same cache entries). Each answer is generated alone, never in a padded
        batch: the answer to one request must not depend on the others (``README``:
        Reproducibility)."""
        return [self.complete(messages, schema) for messages, schema in requests]

    def _payload(self, messages: Messages, schema: dict[str, Any] | None) -> dict[str, Any]:
        constrain = schema if schema and (self.cfg.backend != "openai" or not self.schema_refused) else None
        payload: dict[str, Any] = {"messages": messages}
        if constrain:
            payload["schema"] = constrain
        return payload

    def _path(self, kind: str, payload: dict[str, Any]) -> Path:
        key = sha256_json({"kind": kind, "llm": self.identity, **payload})
        return self.cache_dir / key[:2] / f"{key}.json"

    def _read(self, path: Path) -> Any:
        """The cached value at ``path`` (a hit counted), or ``None``."""
        if not path.is_file():
            return None
        try:
            value = read_json(path)["value"]
        except (OSError, ValueError, KeyError):
            return None
        self.hits += 1
        return value

    def score_labels(self, messages: Messages, labels: list[str]) -> dict[str, float]:
        """Log-likelihood of each label as the start of the answer (cached; local models only)."""
        if not self.can_score:
            raise LLMError(f"{self.cfg.backend} backend cannot score labels")

        def call() -> dict[str, float]:
            scores = self.chat.score_continuations(to_langchain(messages), labels)
            return {label: float(s) for label, s in zip(labels, scores)}

        return self._cached("score", {"messages": messages, "labels": labels}, call)
