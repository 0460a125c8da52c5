"""Optional parts of synthsql and the extra that installs each: a missing one is an error that names it.

The core (``pip install synthsql``) fits, writes and measures on DuckDB. Differential privacy (OpenDP's samplers and
accounting, mbi's Private-PGM with JAX, about 600 MB) is ``synthsql[dp]``; PostgreSQL (psycopg and Ibis's postgres
backend) is ``synthsql[postgres]``; Spark (pyspark, with Java 17) is ``synthsql[spark]``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from synthsql.errors import SynthsqlError

__all__ = ["EXTRAS", "MissingExtraError", "require"]

#: What each extra is for.
EXTRAS = {
    "dp": "differentially private methods (mst, aim, privbayes) and DP domain estimation",
    "postgres": "PostgreSQL databases",
    "spark": "Apache Spark (also needs Java 17: apt-get install openjdk-17-jre-headless)",
}


class MissingExtraError(SynthsqlError, ImportError):
    """An optional part of synthsql is used but its extra is not installed; the message names the extra."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` naming ``synthsql[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"This needs the extra synthsql[{extra}], for {EXTRAS[extra]}: the module {error.name or module!r} is "
            f"not installed. Install it with: pip install 'synthsql[{extra}]'."
        ) from None
