"""llama.cpp behind LangChain's chat-model interface (optional extra: ``make llamacpp``).

Loads a GGUF file in a fraction of a second and decodes 3-5 times faster than transformers
on CPU; with a JSON schema, llama.cpp constrains decoding by grammar, so even a tiny model
answers with valid JSON. Needs ``llama-cpp-python`` built for this CPU (see the Makefile: the
default build may use instructions, such as AMX, that the CPU lacks).
"""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from pipelines.errors import ConfigError, first_line
from pipelines.models.bundled import resolve_model

ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class LlamaCppChatModel(BaseChatModel):
    """A GGUF model run by llama.cpp; greedy when ``temperature == 0``, seeded otherwise.

    ``invoke(messages, json_schema={...})`` constrains the answer to that JSON schema.
    """

    model_path: str
    n_ctx: int = Field(4096, ge=256)
    n_threads: int | None = None
    temperature: float = Field(0.0, ge=0)
    seed: int = 0
    max_tokens: int = Field(256, ge=1)
    supports_json_schema: bool = True

    _llama: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "m2t-llamacpp"

    def load(self) -> LlamaCppChatModel:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigError("backend llamacpp needs llama-cpp-python: run `make llamacpp`") from None
        path = resolve_model(self.model_path)
        try:
            self._llama = Llama(model_path=path, n_ctx=self.n_ctx, n_threads=self.n_threads, seed=self.seed,
                                verbose=False)
        except Exception as exc:
            raise ConfigError(f"cannot load GGUF model {self.model_path!r} ({first_line(exc, 160)}); "
                              "give the path of a .gguf file") from None
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        if self._llama is None:
            self.load()
        options: dict[str, Any] = {
            "messages": [{"role": ROLES.get(m.type, "user"), "content": m.text} for m in messages],
            "temperature": float(kwargs.get("temperature", self.temperature)),
            "max_tokens": int(kwargs.get("max_tokens", self.max_tokens)),
            "seed": int(kwargs.get("seed", self.seed)),
            "stop": stop or None,
        }
        schema = kwargs.get("json_schema")
        if schema:
            options["response_format"] = {"type": "json_object", "schema": schema}
        with self._lock:
            # llama-cpp-python keeps the last prompt's KV cache and evaluates only the tokens a
            # new prompt does not share with it; the answer would then depend on the call before
            # (other batch splits, other sums). Every prompt is evaluated whole.
            self._llama.reset()
            result = self._llama.create_chat_completion(**options)
        choice = result["choices"][0]
        usage = result.get("usage", {})
        message = AIMessage(content=choice["message"]["content"] or "", usage_metadata={
            "input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0)})
        return ChatResult(generations=[ChatGeneration(message=message,
                                                      generation_info={"finish_reason": choice.get("finish_reason")})])


def from_config(cfg: Any) -> LlamaCppChatModel:
    """The ``llamacpp`` backend's loader (``pipelines.models.llm.LLM_BACKENDS``)."""
    return load_llamacpp_chat(cfg.model, temperature=cfg.temperature, seed=cfg.seed, max_tokens=cfg.max_tokens)


def load_llamacpp_chat(model: str, *, temperature: float = 0.0, seed: int = 0, max_tokens: int = 256) -> LlamaCppChatModel:
    return LlamaCppChatModel(model_path=model, temperature=temperature, seed=seed, max_tokens=max_tokens).load()
