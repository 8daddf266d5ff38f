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
