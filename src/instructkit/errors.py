"""Error types. A UserError is bad input: the CLI prints its one line and exits with code 2."""

from __future__ import annotations


class InstructkitError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1


class UserError(InstructkitError):
    """Bad input (file, flag, field). The message is one line that says what to do."""

    exit_code = 2


class ModelError(InstructkitError):
    """A model call failed after its retries.

    ``kind`` is a short machine-readable reason: ``timeout``, ``rate_limit``, ``server``,
    ``connection``, ``bad_response``, ``unsupported``.
    """

    def __init__(self, message: str, kind: str = "server"):
        super().__init__(message)
        self.kind = kind


class UnsupportedError(ModelError):
    """The backend cannot do what was asked (e.g. token logprobs)."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message, kind="unsupported")


class IncompleteStepError(InstructkitError):
    """A step that a longer job depends on ended ``partial`` or ``failed`` (see the run-directory
    contract): the job stops there and exits with that status's code (3 or 1); re-running resumes."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status
        self.exit_code = 3 if status == "partial" else 1
