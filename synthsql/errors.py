"""The one error root of synthsql and its few specific subclasses.

Every error names the table, column, parameter or value at fault, so that a statistician can fix the input
without reading a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "SynthsqlError",
    "ConnectionError",
    "TableNotFoundError",
    "ColumnNotFoundError",
    "EmptyTableError",
    "UnsupportedTypeError",
    "InvalidParameterError",
    "TargetError",
    "ModelFormatError",
    "ModelFitError",
    "SyntheticFitError",
    "DatabaseFailure",
    "did_you_mean",
]


class SynthsqlError(Exception):
    """Root of every error synthsql raises on purpose."""


class ConnectionError(SynthsqlError):  # noqa: A001 - deliberately scoped to synthsql.errors
    """A database URL that cannot be parsed or reached."""


class TableNotFoundError(SynthsqlError):
    """The named table does not exist in the connected database."""


class ColumnNotFoundError(SynthsqlError):
    """A column named by the caller does not exist in the table."""


class EmptyTableError(SynthsqlError):
    """A table (or column) without the rows or values needed to model it."""


class UnsupportedTypeError(SynthsqlError):
    """A column type synthsql cannot model (BLOB, list, struct, ...)."""


class InvalidParameterError(SynthsqlError, ValueError):
    """A parameter outside its allowed range or of the wrong kind."""


class TargetError(SynthsqlError):
    """A target table name that is unsafe, equals the source, or already exists."""


class ModelFormatError(SynthsqlError):
    """A model file that is not a synthsql model or has an unknown format version."""


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest option, or an empty string."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class DatabaseFailure(SynthsqlError):
    """The database itself failed (a full disk, say) in a way that ended the session; nothing was committed."""


class SamplingError(SynthsqlError):
    """A model that cannot draw the rows asked for: its edit rules reject nearly every row it draws."""


class ModelFitError(SynthsqlError):
    """A statistical model that cannot be fitted: a singular design or an iteration that does not converge."""


class SyntheticFitError(ModelFitError):
    """A model (a GLM of ``evaluate``) that fits on the real table but not on the synthetic one: a finding about the
    synthetic table, reported as a metric row (``glm_failed``), not an error of the request."""
