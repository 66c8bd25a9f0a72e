"""Errors that are the user's to fix. The CLI prints them without a traceback."""

from __future__ import annotations


class PjbenchError(Exception):
    """A problem with the user's input (bad path, unknown name, malformed file): message says what to do."""


class DataError(PjbenchError):
    """Malformed or missing data. The message names the file (and row where there is one)."""

    def __init__(self, message: str, *, path: object | None = None, row: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if row is not None:
                where += f", row {row}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.row = row


class VideoError(DataError):
    """A video that cannot be opened or decoded."""
