"""An int4 ONNX model run by onnxruntime-genai, as a LangChain chat model (the ``onnx`` backend).

onnxruntime-genai installs as a prebuilt wheel (no compiler) and decodes the bundled Qwen
models about four times faster than transformers bfloat16 on a CPU: ``bench/llm_throughput.py``
gives the figures. A JSON schema is enforced token by token with llguidance's matcher (the
engine the runtime bundles, driven here so that the schema is chosen per answer, not per
generator: one kept prefix then serves every schema). It reads a folder made by its own
builder (``genai_config.json``, ``model.onnx``, the tokenizer and chat template);
``bundled:<name>`` resolves to such a folder built once in the model cache (``bundled.py``).

The model is loaded once and every generation setting is per call (``max_tokens``,
``temperature``, ``seed``, ``json_schema``), so configs that differ only in those share it.
Greedy at temperature 0; otherwise sampled by the runtime's own generator seeded per call.
Nothing is downloaded; ``onnxruntime_genai`` is imported only when a model loads.

Shared prefixes are read once. Every prompt is read in chunks, one per message, then the
assistant's turn opener as a chunk of its own. A greedy generator that has read a prompt is
kept (the last ``_KEPT_PREFIXES`` per model) and rewound to the longest run of whole messages
a later prompt shares with it, which it then reads on from: m2t's prompts that share a system
prompt and worked example pay for them once, the questions about one set of examples share
the examples, and a repair request (the question, the first answer, what was wrong) reads
only the answer and the request. An answer never depends on what ran before: the same chunks
are read whether a prefix was kept or not (measured on the bundled models: rewound and fresh
generators gave the same greedy answers, with and without a JSON schema;
``tests/models/test_llm_ortgenai.py`` checks it). Other chunks can change an answer (one of
three predict prompts of the 0.5B read in one chunk instead of two), which is why every
prompt is read the same way and the backend's cache revision is raised with the chunking.
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

from pipelines.errors import ConfigError, first_line

if TYPE_CHECKING:
    from langchain_core.callbacks import CallbackManagerForLLMRun

# Per-call overrides `invoke` accepts; anything else is refused rather than silently ignored.
_CALL_OPTIONS = ("max_tokens", "temperature", "seed", "json_schema")

# Message type -> chat-template role.
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool", "function": "tool"}

# Greedy generators kept per model, each rewound to the messages a prompt shares with it; each holds
# a key/value buffer of its max_length (the 1.5B: about 57 kB a token, so a kept 2048-token generator is ~117 MB).
_KEPT_PREFIXES = 3
# max_length of a kept generator is its prompt and answer rounded up to a multiple of this, plus
# one step more: room for the prompts that go on from it (a repair: the question, the answer, what
# was wrong; a longer question after the same system prompt). With no step more, the demo's longest
# predict prompt found no kept generator long enough and read the system prompt again (6 s).
# max_length changes neither an answer nor the speed (the 1.5B: the same greedy tokens at 1024,
# 2048 and 4096, prefill and decode within 3%).
_LENGTH_STEP = 1024

_BUILD_HINT = ("give bundled:qwen2.5-0.5b-instruct, bundled:qwen2.5-1.5b-instruct or a folder built by "
               "`python -m onnxruntime_genai.models.builder -i HF_DIR -o OUT -p int4 -e cpu`")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# With OMP_WAIT_POLICY=PASSIVE (OpenMP's own switch; this runtime has its own thread pool and does
# not read it) the session's threads sleep when they wait instead of spinning: on a machine shared
# with other busy processes (a test suite's workers) a spinning thread holds a core another
# process needs. Measured on 2 AMD EPYC cores: beside the running test suite the 0.5B decoded 38%
# faster sleeping (22 vs 16 tok/s); alone the 1.5B decoded 12% slower (18 vs 21), so spinning stays
# the default.
# Which thread sums what does not change, so neither do the answers.
_NO_SPINNING = {"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"}


def _spin_options() -> dict[str, str]:
    return _NO_SPINNING if os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE" else {}


@dataclass
class _Options:
    max_tokens: int
    temperature: float
    seed: int
    schema: dict[str, Any] | None


@dataclass
class _Kept:
    """A greedy generator that has read ``tokens`` in chunks ending at ``ends``; room for
    ``length`` tokens in all."""

    generator: Any
    length: int
    tokens: list[int]
    ends: list[int]

    def shared(self, prompt: list[int], ends: list[int]) -> int:
        """The longest prefix of ``prompt`` this generator has read in the same chunks
        (``ends`` the prompt's chunk ends): the end of the last chunk both share, 0 if none.
        The prompt's last chunk is always read (it gives the logits of the first new token)."""
        best = 0
        for mine, theirs in zip(self.ends, ends[:-1]):
            if mine != theirs or prompt[best:mine] != self.tokens[best:mine]:
                break
            best = mine
        return best


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
    _context: int = PrivateAttr(default=0)
    _lock: Any = PrivateAttr(default_factory=threading.RLock)
    _kept: list[_Kept] = PrivateAttr(default_factory=list)  # least recently used first
    _vocab: int = PrivateAttr(default=0)
    _guide: Any = PrivateAttr(default=None)  # llguidance's tokenizer, made at the first schema
    _grammars: dict[str, str] = PrivateAttr(default_factory=dict)

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
                "intra_op_num_threads": self.threads or _cores(), **_spin_options()}}}}))
            model = og.Model(config)
            tokenizer = og.Tokenizer(model)
        except Exception as exc:  # the runtime raises RuntimeError for every kind of bad folder
            raise ConfigError(f"cannot load ONNX model {self.model_path!r} from {folder} ({first_line(exc)}); "
                              f"{_BUILD_HINT}") from None
        settings = json.loads((folder / "genai_config.json").read_text())["model"]
        eos = settings.get("eos_token_id")
        self._eos = frozenset(int(i) for i in (eos if isinstance(eos, list) else [eos]) if i is not None)
        self._context = int(settings.get("context_length") or 0)
        self._vocab = int(settings.get("vocab_size") or 0)
        template = folder / "chat_template.jinja"
        self._template = template.read_text(encoding="utf-8") if template.is_file() else None
        self._folder = folder
        self._tokenizer = tokenizer
        self._model = model

    def forget_prefixes(self) -> None:
        """Drops the kept generators: the next prompt is read whole (``bench/llm_throughput.py``
        measures a cold read this way; answers are the same either way)."""
        with self._lock:
            self._kept.clear()

    # ------------------------------------------------------------------ prompts

    def _prompt_ids(self, messages: str | Sequence[BaseMessage]) -> list[int]:
        """The chat-templated prompt's token ids, ending with the assistant's turn opener."""
        return self._encode(messages, opener=True)

    def _chunked_prompt(self, messages: str | Sequence[BaseMessage]) -> tuple[list[int], list[int]]:
        """The prompt's token ids and where its chunks end: after each message whose tokens
        (with those before it) begin the prompt's tokens, and at the prompt's end (the
        assistant's turn opener, a chunk of its own)."""
        prompt = self._encode(messages, opener=True)
        ends: list[int] = []
        if not isinstance(messages, str):
            for k in range(1, len(messages) + 1):
                upto = self._encode(messages[:k], opener=False)
                if (ends and len(upto) <= ends[-1]) or not 0 < len(upto) < len(prompt):
                    continue
                if prompt[: len(upto)] == upto:
                    ends.append(len(upto))
        return prompt, [*ends, len(prompt)]

    def _encode(self, messages: str | Sequence[BaseMessage], *, opener: bool) -> list[int]:
        """Token ids of ``messages`` rendered by the folder's own chat template
        (``chat_template.jinja`` beside the model, else the one in its tokenizer config),
        with the assistant's turn opener when ``opener``; a model without a template gets
        plain ``Role: content`` turns."""
        if isinstance(messages, str):
            messages = [HumanMessage(content=messages)]
        conversation = [{"role": _role(m), "content": m.text} for m in messages]
        try:
            text = self._tokenizer.apply_chat_template(json.dumps(conversation), template_str=self._template,
                                                       add_generation_prompt=opener)
        except Exception:  # no template anywhere: a base model
            text = "".join(f"{t['role'].capitalize()}: {t['content']}\n" for t in conversation)
            text += "Assistant:" if opener else ""
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
            "length"), the seconds of the prompt's prefill and of the decoding apart, and
            ``reused_prefix_tokens`` (prompt tokens a kept generator had already read).

        Raises:
            TypeError: On an unknown keyword argument.
            ValueError: On an override out of range, or a prompt longer than the context.
        """
        options = self._options(kwargs)
        with self._lock:
            self.load()
            prompt, ends = self._chunked_prompt(messages)
            answer, timing = self._answer(prompt, ends, options, [s for s in (stop or []) if s])
        return ChatResult(generations=[self._generation(prompt, answer, timing)],
                          llm_output={"model_name": self.model_path})

    def _generation(self, prompt: list[int], answer: _Answer, timing: dict[str, Any]) -> ChatGeneration:
        usage = {"input_tokens": len(prompt), "output_tokens": len(answer.tokens),
                 "total_tokens": len(prompt) + len(answer.tokens)}
        info = {"finish_reason": answer.finish, **timing}
        message = AIMessage(content=answer.text, usage_metadata=usage, response_metadata=dict(info))
        return ChatGeneration(message=message, generation_info=info)

    def _answer(self, prompt: list[int], ends: list[int], options: _Options,
                stop: list[str]) -> tuple[_Answer, dict[str, Any]]:
        """Generates the answer to one prompt (token ids) read in chunks ending at ``ends``;
        greedy, by the kept generator that shares the most whole messages with it, rewound to
        them (a sampler's random stream would go on from the last answer: never kept)."""
        import numpy as np

        self._check_length(len(prompt), options)
        matcher = self._matcher(options.schema) if options.schema else None
        started = time.perf_counter()
        needed = len(prompt) + options.max_tokens
        keep = options.temperature == 0 and len(ends) > 1  # one chunk: nothing a later prompt could share
        kept, reused = None, 0
        if keep:
            fits = [(k.shared(prompt, ends), i) for i, k in enumerate(self._kept) if k.length >= needed]
            reused, at = max(fits, default=(0, -1))
            if reused:
                kept = self._kept.pop(at)
                kept.generator.rewind_to(reused)
        if kept is None:
            length = (-(-needed // _LENGTH_STEP) + 1) * _LENGTH_STEP if keep else needed
            if self._context:  # needed fits in it (_check_length)
                length = min(length, self._context)
            kept = _Kept(self._generator(options, length, rows=1), length, [], [])
        begin = reused
        for end in ends:
            if end > begin:
                kept.generator.append_tokens(np.asarray(prompt[begin:end], dtype=np.int32))
                begin = end
        prefilled = time.perf_counter()
        answers = self._decode(kept.generator, 1, options, stop, matcher)
        decoded = time.perf_counter()
        if keep:  # kept only after a whole answer: a generator that failed is dropped
            kept.tokens, kept.ends = prompt, list(ends)
            self._kept.append(kept)
            del self._kept[:-_KEPT_PREFIXES]
        timing = {"batch_size": 1, "prefill_seconds": round(prefilled - started, 4),
                  "decode_seconds": round(decoded - prefilled, 4), "reused_prefix_tokens": reused}
        return answers[0], timing

    def _matcher(self, schema: dict[str, Any]) -> Any:
        """A fresh llguidance matcher for ``schema`` (its grammar compiled once per schema).

        Raises:
            ValueError: If llguidance cannot compile the schema.
        """
        import llguidance

        if self._guide is None:
            assert self._folder is not None
            vocabulary = self._folder / "tokenizer.json"
            if not vocabulary.is_file():
                raise ValueError(f"a JSON schema needs the model folder's tokenizer.json, and {self._folder} has none")
            self._guide = llguidance.LLTokenizer(vocabulary.read_text(encoding="utf-8"), n_vocab=self._vocab or None,
                                                 eos_token=sorted(self._eos))
        text = json.dumps(schema, sort_keys=True)
        if text not in self._grammars:
            self._grammars[text] = llguidance.LLMatcher.grammar_from_json_schema(
                schema, defaults={"whitespace_flexible": False})
        matcher = llguidance.LLMatcher(self._guide, self._grammars[text])
        if matcher.is_error():
            raise ValueError(f"llguidance cannot use this JSON schema: {matcher.get_error()}")
        return matcher

    def _check_length(self, width: int, options: _Options) -> None:
        if self._context and width + options.max_tokens > self._context:
            raise ValueError(f"a prompt of {width} tokens plus max_tokens {options.max_tokens} exceeds the model's "
                             f"context of {self._context} tokens")

    def _generator(self, options: _Options, max_length: int, rows: int) -> Any:
        """A new generator for ``rows`` prompts of up to ``max_length`` tokens with their answers."""
        import onnxruntime_genai as og

        params = og.GeneratorParams(self._model)
        search: dict[str, Any] = {"max_length": max_length, "batch_size": rows}
        if options.temperature > 0:
            search.update(do_sample=True, temperature=options.temperature, random_seed=options.seed)
        else:
            search.update(do_sample=False)
        params.set_search_options(**search)
        return og.Generator(self._model, params)

    def run_batch(self, conversations: Sequence[Sequence[BaseMessage]], **kwargs: Any) -> list[AIMessage]:
        """Answers several conversations in one batch of the runtime, each read in one chunk:
        for ``bench/llm_throughput.py`` only, which measures what the runtime's batching is
        worth. m2t never uses it: its answers need not equal ``invoke``'s, which reads a
        prompt in one chunk per message (measured: one of three predict prompts of the 0.5B
        differed between one chunk and two), and one cache key must give one answer. Greedy and without a
        schema (m2t's schema matcher drives one row at a time). The prompts must be of one length
        in tokens: a model built with a pruned head (the bundled builds) computes the logits of
        the batch's last position only, which in a padded row is a pad token.

        Raises:
            ValueError: On sampling, a schema, or prompts of different lengths.
        """
        options = self._options(kwargs)
        if options.temperature > 0 or options.schema:
            raise ValueError("run_batch is greedy and unconstrained")
        with self._lock:
            self.load()
            prompts = [self._prompt_ids(list(c)) for c in conversations]
            if len({len(p) for p in prompts}) > 1:
                raise ValueError(f"run_batch needs prompts of one length in tokens, got "
                                 f"{sorted({len(p) for p in prompts})}: a pruned head reads the last position only")
            answers, timing = self._run(prompts, options, [])
        return [self._generation(p, a, timing).message for p, a in zip(prompts, answers)]  # type: ignore[misc]

    def _run(self, prompts: list[list[int]], options: _Options,
             stop: list[str]) -> tuple[list[_Answer], dict[str, Any]]:
        """Generates answers to ``prompts`` (token ids) in one batch of the runtime, each
        prompt read whole in one chunk (all of one length: ``run_batch``). Each row's answer
        ends at its end-of-sequence token, a stop string or ``max_tokens``; the batch ends when
        every row has."""
        import numpy as np

        width = len(prompts[0])
        self._check_length(width, options)
        ids = np.asarray(prompts, dtype=np.int32)
        generator = self._generator(options, width + options.max_tokens, rows=len(prompts))
        started = time.perf_counter()
        generator.append_tokens(ids if len(prompts) > 1 else ids[0])  # the prompts' prefill
        prefilled = time.perf_counter()
        answers = self._decode(generator, len(prompts), options, stop)
        decoded = time.perf_counter()
        timing = {"batch_size": len(prompts), "prefill_seconds": round(prefilled - started, 4),
                  "decode_seconds": round(decoded - prefilled, 4), "reused_prefix_tokens": 0}
        return answers, timing

    def _decode(self, generator: Any, rows: int, options: _Options, stop: list[str],
                matcher: Any = None) -> list[_Answer]:
        """Decodes the answers of a generator that has read its prompts: each row ends at its
        end-of-sequence token, a stop string, ``max_tokens`` or (with ``matcher``, one row)
        the end of its JSON; all end when every row has. ``matcher`` masks every token the
        schema does not allow before the runtime picks one."""
        import numpy as np

        tokens: list[list[int]] = [[] for _ in range(rows)]
        finish: list[str | None] = [None] * rows
        texts = [""] * rows
        streams = [self._tokenizer.create_stream() for _ in range(rows)] if stop else []
        mask = None
        if matcher is not None:
            import llguidance.numpy as guide

            mask = guide.allocate_token_bitmask(1, self._vocab)
        while not generator.is_done() and None in finish:
            if matcher is not None:
                logits = generator.get_logits()
                flat = logits.reshape(1, -1).astype(np.float32)  # a copy: the runtime's buffer stays
                guide.fill_next_token_bitmask(matcher, mask)
                guide.apply_token_bitmask_inplace(flat, mask)
                generator.set_logits(flat.reshape(logits.shape))
            generator.generate_next_token()
            for row, token in enumerate(generator.get_next_tokens().tolist()):
                if finish[row] is not None:
                    continue
                tokens[row].append(int(token))
                if token in self._eos:
                    finish[row] = "stop"
                    continue
                if matcher is not None:
                    if not matcher.consume_token(int(token)):
                        raise RuntimeError(f"the JSON-schema matcher refused a token it allowed: "
                                           f"{matcher.get_error()}")
                    if matcher.is_stopped():  # the JSON is complete: nothing else may follow
                        finish[row] = "stop"
                        continue
                if stop:
                    texts[row] += streams[row].decode(int(token))
                    if any(s in texts[row] for s in stop):
                        finish[row] = "stop"
                        continue
                if len(tokens[row]) >= options.max_tokens:
                    finish[row] = "length"
        answers = []
        for row in range(rows):
            content = [t for t in tokens[row] if t not in self._eos]
            text = self._tokenizer.decode(np.array(content, dtype=np.int32)) if content else ""
            cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
            answers.append(_Answer(tokens=tokens[row], text=text[:cut] if cut >= 0 else text,
                                   finish=finish[row] or "length"))
        return answers


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
