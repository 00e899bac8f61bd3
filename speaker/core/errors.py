"""Errors that end a command, each with the sysexits-style code it exits with.

A user mistake is one of these, printed as one message; never a traceback.
"""

from __future__ import annotations

import os


class SpeakerError(Exception):
    """anycast-speaker failed."""

    exit_code: int = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class UsageError(SpeakerError):
    """Bad command-line usage."""

    exit_code = os.EX_USAGE  # 64


class ConfigError(SpeakerError):
    """The configuration is not valid."""

    exit_code = os.EX_CONFIG  # 78

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ControlSocketError(SpeakerError):
    """The control socket cannot be created."""

    exit_code = os.EX_CANTCREAT  # 73


class UnknownServiceError(SpeakerError):
    """No service by that name is configured."""

    exit_code = os.EX_NOUSER  # 67


class UnreachableError(SpeakerError):
    """The speaker process cannot be reached on its control socket."""

    exit_code = os.EX_UNAVAILABLE  # 69


class RequestError(SpeakerError):
    """The speaker process refused the request."""

    exit_code = os.EX_DATAERR  # 65


class NotSafeError(SpeakerError):
    """The change could not be confirmed on the live route."""

    exit_code = os.EX_TEMPFAIL  # 75
