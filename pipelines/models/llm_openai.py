"""The ``openai`` LLM backend: any OpenAI-compatible chat endpoint through LangChain's ``ChatOpenAI``.

Works with OpenAI itself and with local servers that speak the same API (vLLM, Ollama,
llama.cpp server, ``transformers serve``). The endpoint is the ``base_url`` argument, else
``$OPENAI_BASE_URL``, else OpenAI's own. The key is read from the environment variable named
by ``api_key_env``; local servers (127.0.0.1 / localhost) ignore keys, so a placeholder is sent
when that variable is unset. The key is held as a pydantic ``SecretStr`` and never logged.

``langchain_openai`` is imported inside :func:`load_openai_chat`, so importing this module is
cheap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pipelines.errors import ConfigError

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOCAL_PLACEHOLDER_KEY = "not-needed"
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def resolve_base_url(base_url: str | None) -> str:
    """The endpoint to call: ``base_url``, else ``$OPENAI_BASE_URL``, else OpenAI's.

    Args:
        base_url: The configured endpoint, or None.

    Returns:
        An ``http(s)://`` URL.

    Raises:
        ConfigError: When the URL is not ``http://`` or ``https://`` with a host.
    """
    url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE_URL).strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"llm base_url {url!r} is not an http(s) URL; use e.g. http://127.0.0.1:8000/v1")
    return url


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine (localhost or a loopback address).

    Args:
        url: An ``http(s)://`` URL.

    Returns:
        True for ``localhost``, ``127.x.x.x`` and ``::1``.
    """
    host = (urlparse(url).hostname or "").lower()
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def from_config(cfg: Any) -> ChatOpenAI:
    """The ``openai`` backend's loader (``pipelines.models.llm.LLM_BACKENDS``). The client
    itself never retries: ``CachedLLM`` does, with one policy for every stage."""
    return load_openai_chat(cfg.model, base_url=cfg.base_url, api_key_env=cfg.api_key_env,
                            temperature=cfg.temperature, seed=cfg.seed, max_tokens=cfg.max_tokens,
                            timeout_s=cfg.timeout_s)


def load_openai_chat(model: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                     temperature: float = 0.0, seed: int = 0, max_tokens: int = 256,
                     timeout_s: float = 120.0) -> ChatOpenAI:
    """A LangChain ``ChatOpenAI`` for an OpenAI-compatible endpoint.

    The client never retries (``max_retries=0``): the caller decides whether a failed
    request is tried again. ``max_tokens`` is LangChain's field name; ``ChatOpenAI`` sends it
    on the wire as ``max_completion_tokens`` (the name OpenAI's API now uses, also read by
    vLLM and ``transformers serve``).

    Args:
        model: The model name the server expects (for ``transformers serve <path>``, exactly
            that path).
        base_url: Endpoint such as ``http://127.0.0.1:8000/v1``; None means
            ``$OPENAI_BASE_URL``, else OpenAI's.
        api_key_env: Name of the environment variable holding the API key.
        temperature: Sampling temperature (0 is greedy).
        seed: Sampling seed, for servers that honour it.
        max_tokens: Maximum number of tokens to generate.
        timeout_s: Seconds before a request (connect, send or read) is given up.

    Returns:
        The chat model; its API key is a ``SecretStr``, masked in ``repr``/``str``.

    Raises:
        ConfigError: When the endpoint is remote and ``api_key_env`` is unset, or the URL is
            not http(s).
    """
    url = resolve_base_url(base_url)
    key = os.environ.get(api_key_env, "").strip()
    if not key:
        if not is_local_url(url):
            raise ConfigError(f"no API key for {url}: set the environment variable {api_key_env} "
                              f"(or llm.api_key_env to the variable that holds it)")
        key = LOCAL_PLACEHOLDER_KEY

    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    return ChatOpenAI(
        model=model,
        base_url=url,
        api_key=SecretStr(key),
        temperature=temperature,
        seed=seed,
        max_tokens=max_tokens,
        timeout=timeout_s,
        max_retries=0,
    )
