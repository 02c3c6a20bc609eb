"""Errors the command turns into a one-line message and an exit code."""

from __future__ import annotations


class MeterSimError(Exception):
    """Base of the errors reported as one line, without a traceback."""

    exit_code = 1


class UsageError(MeterSimError):
    """A bad option, URL, device list, token list or CSV file (exit code 2)."""

    exit_code = 2


class TransportError(MeterSimError):
    """The broker or server cannot be used at all, e.g. refused at start (exit code 1)."""

    exit_code = 1
