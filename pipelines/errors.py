"""Errors whose message is shown to the user as is: one line that says what to do."""


class M2TError(Exception):
    """Base of the project's user-facing errors."""


class BadInputError(M2TError):
    """An item's input is unusable (missing, empty, corrupt file, unsafe path ...).

    Recorded as a per-item error; the rest of the batch goes on.
    """


class ConfigError(M2TError):
    """A case-study config (or a --set override) is invalid."""


class DatasetError(M2TError):
    """A dataset as a whole cannot be read (missing manifest, unknown format)."""


class LLMError(M2TError):
    """A language model could not answer (server down, timeout, refusal to load ...)."""


def first_line(exc: BaseException, limit: int | None = 200) -> str:
    """The first line of ``exc``'s message (at most ``limit`` characters), or its type's name
    when it has no message: how a reason is written into an error record, a one-line failure
    or a warning. Never raises, whatever the exception holds (an empty message included)."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else type(exc).__name__
    return text[:limit] if limit is not None else text
