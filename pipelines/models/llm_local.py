"""A local transformers causal LM as a LangChain chat model, with label scoring.

:class:`LocalChatModel` is the ``local`` backend of :mod:`pipelines.models.llm`: it renders
LangChain messages with the checkpoint's chat template and generates with ``generate``
(greedy at temperature 0, seeded sampling otherwise), so one machine can run a whole study
with no server and no network. It also scores continuations: ``log P(label | prompt)`` for
each allowed label, which is how a label is recovered when a small model's free-text answer
cannot be parsed. Scoring costs about one prefill of the prompt, whatever the number of
labels; generating pays that same prefill and then one forward step per new token.

Nothing is downloaded: the model must be a local directory, an id already in the local HF
cache, or ``bundled:<name>``. torch and transformers are imported only when a model loads.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr, ValidationError

from pipelines.errors import ConfigError, first_line
from pipelines.models.bundled import resolve_model

if TYPE_CHECKING:
    from langchain_core.callbacks import CallbackManagerForLLMRun

# Per-call overrides `_generate` accepts (``chat.invoke(msgs, max_tokens=8)``); anything else
# is refused rather than silently ignored.
_CALL_OPTIONS = ("max_tokens", "temperature", "seed", "json_schema")

# Message type -> chat-template role.
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool", "function": "tool"}


class LocalChatModel(BaseChatModel):
    """A transformers causal LM behind LangChain's chat-model interface.

    Generation is serialised by a lock: LangChain's ``batch`` runs calls in threads, and
    seeded sampling needs the RNG to itself (and two threads on two CPU cores only contend).
    Calls are reproducible: greedy when ``temperature == 0``, otherwise sampled under
    ``torch.manual_seed(seed)`` inside a forked RNG, so the caller's global RNG is untouched.
    ``top_k``/``top_p`` come from the checkpoint's ``generation_config``.

    Attributes:
        model_path: A local model directory or an id already in the local HF cache
            (``bundled:<name>`` is resolved too).
        device: Torch device the model runs on (``"cpu"``, ``"cuda"``, ...).
        temperature: 0 for greedy decoding, above 0 for sampling at that temperature.
        seed: Seed of the sampler (unused when greedy).
        max_tokens: Upper bound on the number of new tokens per answer.

    The model loads on first use; :func:`load_local_chat` loads it eagerly so that a bad path
    fails at once with a :class:`ConfigError`.
    """

    model_path: str
    device: str = "cpu"
    dtype: str = Field("float32", description="weights' dtype: float32, bfloat16, float16, or auto (the checkpoint's)")
    temperature: float = Field(0.0, ge=0)
    seed: int = 0
    max_tokens: int = Field(256, ge=1)

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _torch_device: Any = PrivateAttr(default=None)
    _trims_logits: bool = PrivateAttr(default=False)  # forward() takes logits_to_keep
    _lock: Any = PrivateAttr(default_factory=threading.RLock)
    _grammar_compiler: Any = PrivateAttr(default=None)
    _grammars: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "m2t-local-transformers"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """What changes an answer (LangChain's own cache key and tracing use this)."""
        return {"model_path": self.model_path, "dtype": self.dtype, "temperature": self.temperature, "seed": self.seed,
                "max_tokens": self.max_tokens}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params.update(ls_provider="transformers", ls_model_name=self.model_path, ls_model_type="chat",
                      ls_temperature=kwargs.get("temperature", self.temperature),
                      ls_max_tokens=kwargs.get("max_tokens", self.max_tokens))
        return params

    # ------------------------------------------------------------------ loading

    def load(self) -> LocalChatModel:
        """Loads the tokenizer and weights now (idempotent, thread-safe).

        Returns:
            ``self``, for chaining.

        Raises:
            ConfigError: If the device is unknown or the model cannot be loaded offline.
        """
        with self._lock:
            if self._model is None:
                self._load()
        return self

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ConfigError(f"unknown torch device {self.device!r}; use e.g. 'cpu' or 'cuda'") from None
        path = resolve_model(self.model_path)
        if path.startswith(("/", "./", "../", "~")):  # a path, never a hub id
            path = str(Path(path).expanduser())
            if not Path(path).is_dir():
                raise ConfigError(f"no model directory at {path}; pass a local model directory or the id of a "
                                  "causal LM already in the local HF cache")
        # float32 by default: exact on any CPU. bfloat16 halves memory traffic (about 2x the
        # tokens/s of a 0.5B model on 2 cores) at a small cost in precision; "auto" keeps the
        # checkpoint's own dtype.
        if self.dtype not in ("float32", "bfloat16", "float16", "auto"):
            raise ConfigError(f"unknown dtype {self.dtype!r}; use float32, bfloat16, float16 or auto")
        dtype = self.dtype if self.dtype == "auto" else getattr(torch, self.dtype)
        try:
            with _no_progress_bar():
                tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
        except Exception as exc:  # OSError, ValueError, HFValidationError, ... all mean "not loadable"
            raise ConfigError(
                f"cannot load local chat model {self.model_path!r} ({first_line(exc)}); pass a local model "
                "directory or the id of a causal LM already in the local HF cache"
            ) from None
        model.to(device).eval()
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer = tokenizer
        self._model = model
        self._torch_device = device
        self._trims_logits = "logits_to_keep" in inspect.signature(model.forward).parameters

    def _loaded(self) -> tuple[Any, Any]:
        if self._model is None:
            self.load()
        return self._model, self._tokenizer

    # ------------------------------------------------------------------ prompts

    def _prompt_ids(self, messages: str | Sequence[BaseMessage]) -> tuple[str, list[int]]:
        """The chat-templated prompt (ending with the assistant's turn opener) and its ids."""
        tokenizer = self._tokenizer
        if isinstance(messages, str):
            messages = [HumanMessage(content=messages)]
        conversation = [{"role": _role(m), "content": m.text} for m in messages]
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        else:  # a base model: plain "Role: content" turns
            text = "".join(f"{t['role'].capitalize()}: {t['content']}\n" for t in conversation) + "Assistant:"
        return text, self._encode(text)

    def _encode(self, text: str) -> list[int]:
        # The chat template already holds every special token (BOS included, when the model
        # wants one); adding them again would double them.
        return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ generation

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Generates the assistant's reply to ``messages``.

        Args:
            messages: The conversation, rendered with the checkpoint's chat template.
            stop: Strings that end the answer; the text is cut before the first one found
                (generation also stops as soon as one appears).
            run_manager: LangChain callback manager (unused: no streaming).
            **kwargs: Per-call overrides of ``max_tokens``, ``temperature`` or ``seed``;
                ``json_schema`` (a JSON Schema dict) constrains decoding to JSON valid under it
                (xgrammar's grammar-masking logits processor).

        Returns:
            One generation holding only the new text; token counts are in the message's
            ``usage_metadata`` and ``finish_reason`` ("stop" or "length") in its
            ``generation_info``.

        Raises:
            TypeError: On an unknown keyword argument.
            ValueError: On an override out of range.
        """
        unknown = sorted(set(kwargs) - set(_CALL_OPTIONS))
        if unknown:
            raise TypeError(f"LocalChatModel does not accept {', '.join(unknown)}; it takes {', '.join(_CALL_OPTIONS)}")
        max_tokens = int(kwargs.get("max_tokens", self.max_tokens))
        temperature = float(kwargs.get("temperature", self.temperature))
        seed = int(kwargs.get("seed", self.seed))
        if max_tokens < 1 or temperature < 0:
            raise ValueError(f"max_tokens must be >= 1 and temperature >= 0, got {max_tokens} and {temperature}")
        stop = [s for s in (stop or []) if s]

        import torch

        with self._lock:
            model, tokenizer = self._loaded()
            _, prompt = self._prompt_ids(messages)
            input_ids = torch.tensor([prompt], device=self._torch_device)
            options: dict[str, Any] = {
                "attention_mask": torch.ones_like(input_ids),
                "max_new_tokens": max_tokens,
                "pad_token_id": tokenizer.pad_token_id,
            }
            if stop:
                options.update(stop_strings=stop, tokenizer=tokenizer)
            schema = kwargs.get("json_schema")
            if schema:
                options["logits_processor"] = [self._grammar_processor(schema)]
            if temperature > 0:
                options.update(do_sample=True, temperature=temperature)
            else:
                options.update(do_sample=False, num_beams=1)
            with torch.inference_mode(), _seeded(seed if temperature > 0 else None, self._torch_device):
                generated = model.generate(input_ids, return_dict_in_generate=True, **options)
            output = generated.sequences
        new = output[0, len(prompt):].tolist()
        text = tokenizer.decode(new, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
        ended = bool(new) and new[-1] in _eos_ids(model, tokenizer)
        if cut >= 0:
            text = text[:cut]
        finish = "length" if len(new) >= max_tokens and cut < 0 and not ended else "stop"
        usage = {"input_tokens": len(prompt), "output_tokens": len(new), "total_tokens": len(prompt) + len(new)}
        message = AIMessage(content=text, usage_metadata=usage)
        return ChatResult(
            generations=[ChatGeneration(message=message, generation_info={"finish_reason": finish})],
            llm_output={"model_name": self.model_path, "token_usage": usage},
        )

    def _grammar_processor(self, schema: dict[str, Any]) -> Any:
        """A fresh xgrammar logits processor for ``schema``; one per ``generate`` call, as it
        keeps the matcher's state. Grammars are compiled once per
        schema and model."""
        import json

        import xgrammar as xgr
        from xgrammar.contrib.hf import LogitsProcessor

        if self._grammar_compiler is None:
            info = xgr.TokenizerInfo.from_huggingface(self._tokenizer, vocab_size=self._model.config.vocab_size)
            self._grammar_compiler = xgr.GrammarCompiler(info)
        text = json.dumps(schema)  # property order matters: the grammar writes them in this order
        if text not in self._grammars:
            # no free whitespace: a small model otherwise pads a string's end with spaces or
            # pretty-prints until its token budget runs out (JSON cut mid-answer)
            self._grammars[text] = self._grammar_compiler.compile_json_schema(text, any_whitespace=False)
        return LogitsProcessor(self._grammars[text])

    # ------------------------------------------------------------------ scoring

    def score_continuations(self, messages: str | Sequence[BaseMessage], continuations: list[str]) -> list[float]:
        """Log-likelihood of each continuation as the start of the assistant's answer.

        The prompt is run once (batch 1, keeping its KV cache); the first token of every
        continuation is scored from its last position, and the remaining tokens of all
        continuations go through ONE batched forward pass over that cache (right-padded,
        masked). The cost is about one prefill of the prompt whatever the number of
        labels, where a right-padded batch of ``prompt + continuation`` rows would pay one
        prefill per label; single-token labels need no second pass at all. Models whose cache
        cannot be repeated over the batch get that plain padded batch instead.

        A continuation's tokens are the suffix of ``tokenize(prompt + continuation)`` beyond
        the prompt's tokens, so they are tokenised as they would be generated; when the
        prompt's tokens are not a prefix of that (a merge across the boundary), the
        continuation is tokenised on its own.

        Args:
            messages: The conversation (or one user message as a string); the assistant's
                turn opener is appended, as for generation.
            continuations: Candidate answer starts, e.g. the allowed labels.

        Returns:
            ``sum(log P(token | prompt, previous tokens))`` over each continuation's tokens, in
            input order: a float <= 0 (0.0 for an empty continuation).
        """
        if not continuations:
            return []
        with self._lock:
            self._loaded()
            text, prompt = self._prompt_ids(messages)
            suffixes = []
            for continuation in continuations:
                full = self._encode(text + continuation)
                suffixes.append(full[len(prompt):] if full[: len(prompt)] == prompt else self._encode(continuation))
            if not any(suffixes):
                return [0.0] * len(continuations)
            scores = self._score_shared_prompt(prompt, suffixes)
            if scores is None:
                scores = self._score_padded(prompt, suffixes)
            return scores

    def _score_shared_prompt(self, prompt: list[int], suffixes: list[list[int]]) -> list[float] | None:
        """Scores over one prefill of the prompt; ``None`` if the model's cache cannot be shared.

        The prompt is always prefilled whole, in one pass: a KV cache kept from an earlier call
        would make the scores depend on which call came before (other shapes, other sums).
        """
        import torch

        device = self._torch_device
        with torch.inference_mode():
            keep = {"logits_to_keep": 1} if self._trims_logits else {}
            first = self._model(input_ids=torch.tensor([prompt], device=device), use_cache=True, **keep)
            next_token = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
            scores = [float(next_token[s[0]]) if s else 0.0 for s in suffixes]
            rows = [i for i, s in enumerate(suffixes) if len(s) > 1]
            if not rows:
                return scores
            cache = getattr(first, "past_key_values", None)
            if cache is None or not hasattr(cache, "batch_repeat_interleave"):
                return None
            cache.batch_repeat_interleave(len(rows))
            # Row r feeds tokens 0..k-2 of its continuation and is scored on tokens 1..k-1.
            width = max(len(suffixes[i]) for i in rows) - 1
            pad = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else 0
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), len(prompt) + width), dtype=torch.long)
            targets = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                k = len(suffixes[i]) - 1
                ids[r, :k] = torch.tensor(suffixes[i][:-1])
                targets[r, :k] = torch.tensor(suffixes[i][1:])
                mask[r, : len(prompt) + k] = 1
            out = self._model(input_ids=ids.to(device), attention_mask=mask.to(device), past_key_values=cache)
            logprobs = torch.log_softmax(out.logits.float(), dim=-1).cpu()
            picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1) * mask[:, len(prompt):]
            for r, i in enumerate(rows):
                scores[i] += float(picked[r].sum())
        return scores

    def _score_padded(self, prompt: list[int], suffixes: list[list[int]]) -> list[float]:
        """Scores with one right-padded batch of ``prompt + continuation`` rows."""
        import torch

        n, longest = len(prompt), max(len(s) for s in suffixes)
        width = n + longest
        pad = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(suffixes), width), pad, dtype=torch.long)
        mask = torch.zeros((len(suffixes), width), dtype=torch.long)
        for row, suffix in enumerate(suffixes):
            ids[row, : n + len(suffix)] = torch.tensor(prompt + suffix)
            mask[row, : n + len(suffix)] = 1
        with torch.inference_mode():
            # Logits of the positions that predict continuation tokens only: projecting every
            # prompt position onto the vocabulary would be most of the head's cost.
            inputs = {"input_ids": ids.to(self._torch_device), "attention_mask": mask.to(self._torch_device)}
            if self._trims_logits:
                logits = self._model(**inputs, logits_to_keep=longest + 1).logits[:, :-1]
            else:
                logits = self._model(**inputs).logits[:, n - 1 : width - 1]
            logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        picked = logprobs.gather(-1, ids[:, n:].unsqueeze(-1)).squeeze(-1) * mask[:, n:]
        return [float(v) for v in picked.sum(dim=-1)]


def _role(message: BaseMessage) -> str:
    if message.type == "chat":
        return str(getattr(message, "role", "user"))
    return _ROLES.get(message.type, message.type)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = ids if isinstance(ids, (list, tuple, set)) else [ids]
    return {int(i) for i in [*ids, tokenizer.eos_token_id] if i is not None}


@contextmanager
def _no_progress_bar() -> Iterator[None]:
    """Hides transformers' "Loading weights" bar (it would cut into the runner's own progress)."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


@contextmanager
def _seeded(seed: int | None, device: Any) -> Iterator[None]:
    """Seeds torch's RNG for the block inside a forked RNG (``generate`` takes no
    ``torch.Generator``); a no-op when ``seed`` is None."""
    if seed is None:
        yield
        return
    import torch

    fork = {"devices": []} if device.type == "cpu" else {"device_type": device.type}
    with torch.random.fork_rng(**fork):
        torch.manual_seed(seed)
        yield


def from_config(cfg: Any) -> LocalChatModel:
    """The ``local`` backend's loader (``pipelines.models.llm.LLM_BACKENDS``)."""
    return load_local_chat(cfg.model, device=cfg.device, dtype=cfg.dtype, temperature=cfg.temperature,
                           seed=cfg.seed, max_tokens=cfg.max_tokens)


def load_local_chat(
    model: str,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    temperature: float = 0.0,
    seed: int = 0,
    max_tokens: int = 256,
) -> LocalChatModel:
    """Loads a local causal LM as a LangChain chat model (what ``backend: local`` uses).

    Args:
        model: ``bundled:<name>``, a local model directory, or an id already in the local HF
            cache.
        device: Torch device (``"cpu"``, ``"cuda"``, ...).
        dtype: Weights' dtype (``float32``, ``bfloat16``, ``float16``, ``auto``).
        temperature: 0 for greedy decoding; above 0 samples, seeded by ``seed``.
        seed: Sampling seed.
        max_tokens: Upper bound on new tokens per answer.

    Returns:
        A loaded :class:`LocalChatModel`.

    Raises:
        ConfigError: If an argument is invalid or the model cannot be loaded offline.
    """
    path = resolve_model(model)
    try:
        chat = LocalChatModel(model_path=path, device=device, dtype=dtype, temperature=temperature, seed=seed,
                              max_tokens=max_tokens)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise ConfigError(f"invalid local chat model setting {'.'.join(map(str, problem['loc']))}: "
                          f"{problem['msg']}") from None
    try:
        return chat.load()
    except ConfigError as exc:
        if path == model:
            raise
        raise ConfigError(str(exc).replace(repr(path), f"{model!r} ({path})", 1)) from None
