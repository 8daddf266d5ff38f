"""Real OpenAI-compatible servers for tests: ``transformers serve`` on loopback.

:func:`transformers_server` starts ``transformers serve <model dir>`` on 127.0.0.1 and a free
port, waits for ``/health``, and stops the process when the ``with`` block ends (terminate,
then kill). Its log goes to a file (a pipe nobody reads would block the server). The model
name a client must send is exactly the directory the server was started with.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 90.0


def free_port() -> int:
    """A loopback port that nothing listens on (the OS picks one, we release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command() -> list[str]:
    script = Path(sys.executable).parent / "transformers"
    if script.is_file():
        return [str(script), "serve"]
    # transformers 5 has no ``python -m transformers``; call the console script's entry point.
    return [sys.executable, "-c", "import sys; from transformers.cli.transformers import main; sys.exit(main())",
            "serve"]


def log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def get_status(url: str) -> int | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(url, timeout=2) as response:
            return int(response.status)
    except Exception:  # refused while starting, reset, HTTP error ...
        return None


class ServerFailed(RuntimeError):
    """The server exited or never became healthy (the message holds its log's tail)."""


@contextmanager
def transformers_server(model_dir: str | Path, log: Path, timeout_s: float = START_TIMEOUT_S) -> Iterator[dict[str, str]]:
    """``transformers serve model_dir`` on loopback; yields ``base_url``, ``model``, ``log``
    and ``start_s``.

    Raises:
        ServerFailed: The process exited, or ``/health`` did not answer 200 within ``timeout_s``.
    """
    model = str(model_dir)
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [*serve_command(), model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with open(log, "wb") as log_file:  # the child keeps its own handle
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        started = time.monotonic()
        while get_status(f"http://127.0.0.1:{port}/health") != 200:  # /v1/models answers 500 without an HF cache
            if proc.poll() is not None:
                raise ServerFailed(f"transformers serve exited with {proc.returncode}:\n{log_tail(log)}")
            if time.monotonic() - started > timeout_s:
                raise ServerFailed(f"transformers serve not healthy after {timeout_s:.0f} s:\n{log_tail(log)}")
            time.sleep(0.25)
        yield {"base_url": f"http://127.0.0.1:{port}/v1", "model": model, "log": str(log),
               "start_s": f"{time.monotonic() - started:.1f}"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
