"""An int4 ONNX model run by onnxruntime-genai, as a LangChain chat model (the ``onnx`` backend).

onnxruntime-genai installs as a prebuilt wheel (no compiler) and decodes the bundled Qwen
models about four times faster than transformers bfloat16 on a CPU, with JSON-schema
constrained decoding (llguidance) at no measurable cost: ``bench/llm_throughput.py`` gives
the figures. It reads a folder made by its own builder (``genai_config.json``, ``model.onnx``,
the tokenizer and chat template); ``bundled:<name>`` resolves to such a folder built once in
the model cache (``bundled.py``).

The model is loaded once and every generation setting is per call (``max_tokens``,
``temperature``, ``seed``, ``json_schema``), so configs that differ only in those share it.
Greedy at temperature 0; otherwise sampled by the runtime's own generator seeded per call.
Nothing is downloaded; ``onnxruntime_genai`` is imported only when a model loads.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr, ValidationError

from pipelines.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.callbacks import CallbackManagerForLLMRun

# Per-call overrides `invoke` accepts; anything else is refused rather than silently ignored.
_CALL_OPTIONS = ("max_tokens", "temperature", "seed", "json_schema")

# Message type -> chat-template role.
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool", "function": "tool"}

_BUILD_HINT = ("give bundled:qwen2.5-0.5b-instruct, bundled:qwen2.5-1.5b-instruct or a folder built by "
               "`python -m onnxruntime_genai.models.builder -i HF_DIR -o OUT -p int4 -e cpu`")


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class _Options:
    max_tokens: int
    temperature: float
    seed: int
    schema: dict[str, Any] | None


@dataclass
class _Answer:
    tokens: list[int]  # new tokens, the end-of-sequence token included when it came
    text: str
    finish: str  # "stop" (end of sequence or a stop string) or "length"


class OrtGenAIChatModel(BaseChatModel):
    """An onnxruntime-genai model folder behind LangChain's chat-model interface.

    Generation holds a lock: the runtime already uses every thread it is given, and two
    generations at once would only contend for the same cores.

    Attributes:
        model_path: ``bundled:<name>`` (its int4 ONNX build) or a folder holding
            ``genai_config.json``.
        threads: ``intra_op_num_threads`` of the session; default the cores this process may use.
        temperature: 0 for greedy decoding, above 0 for sampling at that temperature.
        seed: Seed of the sampler (unused when greedy).
        max_tokens: Upper bound on the number of new tokens per answer.
    """

    model_path: str
    threads: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0)
    seed: int = 0
    max_tokens: int = Field(256, ge=1)

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _template: str | None = PrivateAttr(default=None)
    _folder: Path | None = PrivateAttr(default=None)
    _eos: frozenset[int] = PrivateAttr(default=frozenset())
    _pad: int = PrivateAttr(default=0)
    _context: int = PrivateAttr(default=0)
    _lock: Any = PrivateAttr(default_factory=threading.RLock)

    @property
    def _llm_type(self) -> str:
        return "m2t-onnxruntime-genai"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """What changes an answer (LangChain's own cache key and tracing use this)."""
        return {"model_path": self.model_path, "temperature": self.temperature, "seed": self.seed,
                "max_tokens": self.max_tokens}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params.update(ls_provider="onnxruntime-genai", ls_model_name=self.model_path, ls_model_type="chat",
                      ls_temperature=kwargs.get("temperature", self.temperature),
                      ls_max_tokens=kwargs.get("max_tokens", self.max_tokens))
        return params

    # ------------------------------------------------------------------ loading

    def load(self) -> OrtGenAIChatModel:
        """Loads the model folder now (idempotent, thread-safe); a bundled model's ONNX build
        is made first if it is missing (one line on stderr; ``make setup`` does it ahead).

        Raises:
            ConfigError: If onnxruntime-genai is missing or the folder cannot be loaded.
        """
        with self._lock:
            if self._model is None:
                self._load()
        return self

    def _load(self) -> None:
        from pipelines.models.bundled import resolve_model

        try:
            import onnxruntime_genai as og
        except ImportError:
            raise ConfigError("backend onnx needs onnxruntime-genai==0.18.0: run `make setup`") from None
        folder = Path(resolve_model(self.model_path, form="onnx")).expanduser()
        if not (folder / "genai_config.json").is_file():
            raise ConfigError(f"no ONNX model folder at {folder} (no genai_config.json); {_BUILD_HINT}")
        try:
            config = og.Config(str(folder))
            config.overlay(json.dumps({"model": {"decoder": {"session_options": {
                "intra_op_num_threads": self.threads or _cores()}}}}))
            model = og.Model(config)
            tokenizer = og.Tokenizer(model)
        except Exception as exc:  # the runtime raises RuntimeError for every kind of bad folder
            raise ConfigError(f"cannot load ONNX model {self.model_path!r} from {folder} ({_first_line(exc)}); "
                              f"{_BUILD_HINT}") from None
        settings = json.loads((folder / "genai_config.json").read_text())["model"]
        eos = settings.get("eos_token_id")
        self._eos = frozenset(int(i) for i in (eos if isinstance(eos, list) else [eos]) if i is not None)
        self._pad = int(settings.get("pad_token_id", next(iter(self._eos), 0)))
        self._context = int(settings.get("context_length") or 0)
        template = folder / "chat_template.jinja"
        self._template = template.read_text(encoding="utf-8") if template.is_file() else None
        self._folder = folder
        self._tokenizer = tokenizer
        self._model = model

    # ------------------------------------------------------------------ prompts

    def _prompt_ids(self, messages: str | Sequence[BaseMessage]) -> list[int]:
        """The chat-templated prompt's token ids, ending with the assistant's turn opener.

        The folder's own chat template renders it (``chat_template.jinja`` beside the model,
        else the one in its tokenizer config); a model without one gets plain
        ``Role: content`` turns."""
        if isinstance(messages, str):
            messages = [HumanMessage(content=messages)]
        conversation = [{"role": _role(m), "content": m.text} for m in messages]
        try:
            text = self._tokenizer.apply_chat_template(json.dumps(conversation), template_str=self._template,
                                                       add_generation_prompt=True)
        except Exception:  # no template anywhere: a base model
            text = "".join(f"{t['role'].capitalize()}: {t['content']}\n" for t in conversation) + "Assistant:"
        return [int(i) for i in self._tokenizer.encode(text)]

    # ------------------------------------------------------------------ generation

    def _options(self, kwargs: dict[str, Any]) -> _Options:
        unknown = sorted(set(kwargs) - set(_CALL_OPTIONS))
        if unknown:
            raise TypeError(f"OrtGenAIChatModel does not accept {', '.join(unknown)}; "
                            f"it takes {', '.join(_CALL_OPTIONS)}")
        options = _Options(max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
                           temperature=float(kwargs.get("temperature", self.temperature)),
                           seed=int(kwargs.get("seed", self.seed)), schema=kwargs.get("json_schema") or None)
        if options.max_tokens < 1 or options.temperature < 0:
            raise ValueError(f"max_tokens must be >= 1 and temperature >= 0, got {options.max_tokens} and "
                             f"{options.temperature}")
        return options

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Generates the assistant's reply to ``messages``.

        Args:
            messages: The conversation, rendered with the folder's chat template.
            stop: Strings that end the answer; the text is cut before the first one found
                (generation stops as soon as one appears).
            run_manager: LangChain callback manager (unused: no streaming).
            **kwargs: Per-call overrides of ``max_tokens``, ``temperature`` or ``seed``;
                ``json_schema`` (a JSON Schema dict) constrains decoding to JSON valid under it.

        Returns:
            One generation holding only the new text; token counts are in the message's
            ``usage_metadata``; ``generation_info`` has ``finish_reason`` ("stop" or
            "length") and the seconds of the prompt's prefill and of the decoding apart.

        Raises:
            TypeError: On an unknown keyword argument.
            ValueError: On an override out of range, or a prompt longer than the context.
        """
        options = self._options(kwargs)
        with self._lock:
            self.load()
            prompt = self._prompt_ids(messages)
            answers, timing = self._run([prompt], options, [s for s in (stop or []) if s])
        return ChatResult(generations=[self._generation(prompt, answers[0], timing)],
                          llm_output={"model_name": self.model_path})

    def batch_invoke(self, conversations: Sequence[Sequence[BaseMessage]], **kwargs: Any) -> list[AIMessage]:
        """Answers several conversations in one batch of the runtime, in order.

        A greedy answer is the same alone and inside any batch (measured on m2t's predict
        prompts, 80 tokens, batches of 2 and 4 with rows of 571-847 prompt tokens; checked by
        ``tests/models/test_llm_ortgenai.py``), so batching changes speed only. Two kinds of
        request are generated one by one instead: sampled answers (``temperature > 0``: the
        runtime's random stream is shared by a batch's rows, so a row's sample would depend on
        its batch-mates) and schema-constrained ones (onnxruntime-genai 0.18 fails a batch
        whose rows' grammars end at different steps: "compute_mask() called after stop").

        Args:
            conversations: One message list per answer.
            **kwargs: The same per-call options as ``invoke``, applied to every answer (one
                ``json_schema`` for the whole batch).

        Returns:
            One ``AIMessage`` per conversation, as ``invoke`` would return it
            (``generation_info`` in ``response_metadata`` gives the batch's size and seconds).
        """
        options = self._options(kwargs)
        if not conversations:
            return []
        if options.temperature > 0 or options.schema:
            return [self.invoke(list(c), **kwargs) for c in conversations]  # type: ignore[misc]
        with self._lock:
            self.load()
            prompts = [self._prompt_ids(list(c)) for c in conversations]
            answers, timing = self._run(prompts, options, [])
        return [self._generation(p, a, timing).message for p, a in zip(prompts, answers)]  # type: ignore[misc]

    def _generation(self, prompt: list[int], answer: _Answer, timing: dict[str, Any]) -> ChatGeneration:
        usage = {"input_tokens": len(prompt), "output_tokens": len(answer.tokens),
                 "total_tokens": len(prompt) + len(answer.tokens)}
        info = {"finish_reason": answer.finish, **timing}
        message = AIMessage(content=answer.text, usage_metadata=usage, response_metadata=dict(info))
        return ChatGeneration(message=message, generation_info=info)

    def _run(self, prompts: list[list[int]], options: _Options,
             stop: list[str]) -> tuple[list[_Answer], dict[str, Any]]:
        """Generates answers to ``prompts`` (token ids) in one batch of the runtime.

        The rows are right-padded with the pad token (as the runtime's own ``encode_batch``
        pads them: it masks those positions); each row's answer ends at its end-of-sequence
        token, a stop string or ``max_tokens``; the batch ends when every row has."""
        import numpy as np
        import onnxruntime_genai as og

        width = max(len(p) for p in prompts)
        if self._context and width + options.max_tokens > self._context:
            raise ValueError(f"a prompt of {width} tokens plus max_tokens {options.max_tokens} exceeds the model's "
                             f"context of {self._context} tokens")
        params = og.GeneratorParams(self._model)
        search: dict[str, Any] = {"max_length": width + options.max_tokens, "batch_size": len(prompts)}
        if options.temperature > 0:
            search.update(do_sample=True, temperature=options.temperature, random_seed=options.seed)
        else:
            search.update(do_sample=False)
        params.set_search_options(**search)
        if options.schema:
            params.set_guidance("json_schema", json.dumps(_compact(options.schema)))
        ids = np.full((len(prompts), width), self._pad, dtype=np.int32)
        for row, prompt in enumerate(prompts):
            ids[row, : len(prompt)] = prompt
        generator = og.Generator(self._model, params)
        started = time.perf_counter()
        generator.append_tokens(ids if len(prompts) > 1 else ids[0])  # the prompts' prefill
        prefilled = time.perf_counter()
        rows = len(prompts)
        tokens: list[list[int]] = [[] for _ in range(rows)]
        finish: list[str | None] = [None] * rows
        texts = [""] * rows
        streams = [self._tokenizer.create_stream() for _ in range(rows)] if stop else []
        while not generator.is_done() and None in finish:
            generator.generate_next_token()
            for row, token in enumerate(generator.get_next_tokens().tolist()):
                if finish[row] is not None:
                    continue
                tokens[row].append(int(token))
                if token in self._eos:
                    finish[row] = "stop"
                    continue
                if stop:
                    texts[row] += streams[row].decode(int(token))
                    if any(s in texts[row] for s in stop):
                        finish[row] = "stop"
                        continue
                if len(tokens[row]) >= options.max_tokens:
                    finish[row] = "length"
        decoded = time.perf_counter()
        answers = []
        for row in range(rows):
            content = [t for t in tokens[row] if t not in self._eos]
            text = self._tokenizer.decode(np.array(content, dtype=np.int32)) if content else ""
            cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
            answers.append(_Answer(tokens=tokens[row], text=text[:cut] if cut >= 0 else text,
                                   finish=finish[row] or "length"))
        timing = {"batch_size": rows, "prefill_seconds": round(prefilled - started, 4),
                  "decode_seconds": round(decoded - prefilled, 4)}
        return answers, timing


def _compact(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with llguidance told to allow no free whitespace (unless it says otherwise):
    a small model otherwise pads strings or pretty-prints until its token budget runs out,
    and compact JSON costs fewer tokens (as the ``local`` backend's xgrammar grammar does)."""
    return schema if "x-guidance" in schema else {**schema, "x-guidance": {"whitespace_flexible": False}}


def _role(message: BaseMessage) -> str:
    if message.type == "chat":
        return str(getattr(message, "role", "user"))
    return _ROLES.get(message.type, message.type)


def from_config(cfg: Any) -> OrtGenAIChatModel:
    """The ``onnx`` backend's loader (``pipelines.models.llm.LLM_BACKENDS``)."""
    return load_ortgenai_chat(cfg.model, temperature=cfg.temperature, seed=cfg.seed, max_tokens=cfg.max_tokens,
                              threads=getattr(cfg, "threads", None))


def load_ortgenai_chat(
    model: str,
    *,
    temperature: float = 0.0,
    seed: int = 0,
    max_tokens: int = 256,
    threads: int | None = None,
) -> OrtGenAIChatModel:
    """Loads an onnxruntime-genai model folder as a LangChain chat model (``backend: onnx``).

    Args:
        model: ``bundled:<name>`` (its int4 ONNX build, made once) or a model folder.
        temperature: 0 for greedy decoding; above 0 samples, seeded by ``seed``.
        seed: Sampling seed.
        max_tokens: Upper bound on new tokens per answer.
        threads: Threads of the runtime; default the cores this process may use.

    Returns:
        A loaded :class:`OrtGenAIChatModel`.

    Raises:
        ConfigError: If an argument is invalid or the model cannot be loaded.
    """
    try:
        chat = OrtGenAIChatModel(model_path=model, temperature=temperature, seed=seed, max_tokens=max_tokens,
                                 threads=threads)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ConfigError(f"invalid onnx chat model setting {'.'.join(map(str, problem['loc']))}: "
                          f"{problem['msg']}") from None
    return chat.load()
