"""A fitted model: aggregates only, sampled as a stream of Arrow batches, saved as versioned JSON.

Every generator returns a subclass of :class:`Model` that knows how to draw cell codes; the base class turns codes
into values (:mod:`synthsql.discretize`), streams them in fixed-size batches so that memory stays bounded whatever
``n`` is, and reads and writes the JSON file (``{"synthsql": ..., "format": 2, "generator": ..., "params": ...,
"spec": ..., "state": ...}``). No pickle, no rows: a model file holds counts, quantiles and correlations. A model
read back is checked whole before it is built (:mod:`synthsql.model_format`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from synthsql import model_format
from synthsql.discretize import decode, quantile_table
from synthsql.errors import InvalidParameterError, ModelFormatError, SamplingError, SynthsqlError, did_you_mean
from synthsql.model_format import StateCheck
from synthsql.rules import Rule, meeting
from synthsql.schema import NUMERIC_KINDS, TableSpec

if TYPE_CHECKING:
    import ibis

    from synthsql.connection import Database

__all__ = ["Model", "load", "FORMAT", "BATCH_ROWS"]

#: The model format this synthsql writes and reads. 2: numeric bins keep their quantiles at
#: :data:`~synthsql.discretize.WITHIN_BIN_PROBS` (format 1 kept the deciles, 11 per bin).
FORMAT = 2
BATCH_ROWS = 100_000
#: The most times a batch is topped up with fresh draws to replace rows that break the model's edit rules.
MAX_REDRAWS = 50
_MODELS: dict[str, type[Model]] = {}


class Model:
    """Base of every fitted model. Subclasses set ``generator`` and implement ``_draw``, ``_state``, ``_from_state``."""

    generator: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.generator:
            _MODELS[cls.generator] = cls

    def __init__(
        self,
        *,
        spec: TableSpec,
        params: Mapping[str, Any],
        quantiles: Mapping[str, np.ndarray],
        seed: int | None = None,
        privacy: Mapping[str, Any] | None = None,
        holdout: Any = None,
        rules: tuple[Rule, ...] = (),
        null_blocks: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        self.spec = spec
        self.params = dict(params)
        self.quantiles = {k: quantile_table(v) for k, v in quantiles.items()}  # whole numbers stay exact
        self.seed = seed
        #: For a differentially private model: epsilon, delta, rho and the ledger of every measurement.
        self.privacy = dict(privacy) if privacy is not None else None
        #: The holdout split the model was fitted with (a synthsql.holdout.Holdout), or None.
        self.holdout: Any = holdout
        #: Edit rules every sampled row meets (:meth:`sample` redraws the rows that break one).
        self.rules: tuple[Rule, ...] = tuple(rules)
        #: Blocks of columns NULL together in the source (found by a non-DP fit, or declared): a sample keeps each
        #: block's pattern (:meth:`sample`).
        self.null_blocks: tuple[tuple[str, ...], ...] = tuple(tuple(b) for b in null_blocks)
        #: Rows drawn and rows kept by the last :meth:`sample` (their ratio is the rules' acceptance rate).
        self.rows_drawn = self.rows_kept = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table={self.spec.table!r}, columns={len(self.spec.modelled)}, params={self.params})"

    @property
    def rejection_rate(self) -> float:
        """What the edit rules cost the last release: rows redrawn per row kept, ``(rows_drawn - rows_kept) /
        rows_kept`` (0 without rules, or before anything was drawn). :func:`synthsql.materialize` records it in
        ``<target>__model`` (:func:`synthsql.write.model_table`)."""
        return (self.rows_drawn - self.rows_kept) / self.rows_kept if self.rows_kept else 0.0

    @property
    def epsilon(self) -> float | None:
        """The model's epsilon if it is differentially private (None otherwise)."""
        return None if self.privacy is None else float(self.privacy["epsilon"])

    @property
    def delta(self) -> float | None:
        return None if self.privacy is None else float(self.privacy["delta"])

    def ledger(self) -> pd.DataFrame:
        """Every noisy measurement the model was fitted on: step, columns, mechanism, rho, sigma, epsilon, delta."""
        columns = ["step", "columns", "mechanism", "rho", "sigma", "epsilon", "delta"]
        if self.privacy is None:
            return pd.DataFrame(columns=columns)
        rows = [{**m, "columns": ", ".join(m["columns"])} for m in self.privacy["ledger"]]
        return pd.DataFrame(rows, columns=columns)

    # --- what a subclass provides -------------------------------------------------------------------------------
    def _draw(self, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Cell codes of ``n`` rows for every modelled column, and optionally positions within numeric bins."""
        raise NotImplementedError

    def _state(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _from_state(cls, state: Mapping[str, Any], **common: Any) -> Model:
        raise NotImplementedError

    @classmethod
    def _check_state(cls, state: Any, check: StateCheck) -> None:
        """Refuse a saved state that does not fit the spec, with :class:`ModelFormatError` naming the field.

        Called before :meth:`_from_state`, with the checks every model shares (:class:`StateCheck`). The default is
        a model without state (``{}``); a subclass with state declares what it must look like.
        """
        check.fields(state, "state", ())

    @classmethod
    def _check_params(cls, params: Mapping[str, Any]) -> None:
        """Refuse saved parameters the generator would refuse (its own checks, through the registry)."""
        from synthsql.generators import get_generator

        get_generator(cls.generator, **params)

    @classmethod
    def _private(cls) -> bool:
        """Whether the generator is differentially private (its model must then carry a privacy block)."""
        from synthsql.generators import REGISTRY

        return bool(getattr(REGISTRY.get(cls.generator), "private", False))

    # --- releasing ----------------------------------------------------------------------------------------------
    def release_rows(self, rows: int | None) -> int | None:
        """The number of rows a release of this model has: ``rows``, or as many as the source had (None when the
        source decides it when read)."""
        return self.spec.n_rows if rows is None else rows

    def release(
        self, db: Database, rows: int | None, seed: int | None, *, batch_rows: int = BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """The released rows as Arrow batches, for :func:`synthsql.materialize` to write. A fully synthetic model
        samples them (:meth:`sample`) without reading the database."""
        return self.sample(rows, seed, batch_rows=batch_rows)

    def template(self, db: Database) -> ibis.Table | None:
        """An empty table whose column types the release takes: the source's, when it is in ``db``."""
        from synthsql.connection import TableRef

        source = TableRef.parse(self.spec.table)
        return db.table(source).limit(0) if db.exists(source) else None

    # --- sampling -----------------------------------------------------------------------------------------------
    def sample(self, n: int, seed: int | None = None, *, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Stream ``n`` synthetic rows as Arrow record batches of at most ``batch_rows`` rows.

        The same ``seed`` (and ``batch_rows``) gives the same rows; ``seed=None`` draws fresh entropy.
        Columns come in the source order, with identifiers numbered 1..n and excluded columns NULL.

        Columns NULL together in the source (:attr:`null_blocks`, found when fitting, or declared with
        ``fit(..., null_blocks=...)``) are NULL together in the sample: where a block's first column is NULL the
        others are set NULL, and where it is not, a column drawn NULL takes a value drawn from the batch's other rows
        where that column is not NULL (a hot deck within the batch), so the block keeps the share of its first
        column and each column its distribution of values.

        With edit rules (``fit(..., rules=[...])``), each batch keeps only the rows that meet every rule and is
        topped up with fresh draws from the same random stream until it is full (at most :data:`MAX_REDRAWS`
        times; a model that cannot meet its rules is an error that names them): the row count is exact, and
        :attr:`rows_drawn` / :attr:`rows_kept` say how many rows the rules cost.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise InvalidParameterError(f"The number of rows to sample must be a positive integer, got {n!r}.")
        if batch_rows <= 0:
            raise InvalidParameterError(f"batch_rows must be a positive integer, got {batch_rows!r}.")
        rng = np.random.default_rng(seed)
        self.rows_drawn = self.rows_kept = 0
        for start in range(0, int(n), batch_rows):
            rows = min(batch_rows, int(n) - start)
            batch = self._batch(rows, rng, start)
            self.rows_drawn += rows
            if self.rules:
                batch = self._meeting_rules(batch, rows, rng, start)
            self.rows_kept += rows
            yield batch

    def _batch(self, rows: int, rng: np.random.Generator, start: int) -> pa.RecordBatch:
        codes, within = self._draw(rows, rng)
        arrays = []
        for col in self.spec.columns:
            if col.kind in NUMERIC_KINDS and col.name not in within:
                within[col.name] = rng.random(rows)
            arrays.append(
                decode(
                    codes.get(col.name, np.zeros(rows, dtype=np.int64)),
                    col,
                    within=within.get(col.name),
                    quantiles=self.quantiles.get(col.name),
                    offset=start,
                    rng=rng,
                )
            )
        if self.null_blocks:
            arrays = self._with_null_blocks(arrays, rng)
        return pa.RecordBatch.from_arrays(arrays, names=self.spec.names)

    def _with_null_blocks(self, arrays: list[pa.Array], rng: np.random.Generator) -> list[pa.Array]:
        """The block pattern imposed on a batch's columns (see :meth:`sample`)."""
        index = {name: i for i, name in enumerate(self.spec.names)}
        for block in self.null_blocks:
            lead = arrays[index[block[0]]].is_null().to_numpy(zero_copy_only=False)
            for name in block[1:]:
                column = arrays[index[name]]
                missing = column.is_null().to_numpy(zero_copy_only=False)
                donors = np.flatnonzero(~lead & ~missing)
                take = np.arange(len(column))
                fill = np.flatnonzero(~lead & missing)
                if len(fill) and len(donors):
                    take[fill] = donors[rng.integers(0, len(donors), size=len(fill))]
                column = column.take(pa.array(take))
                arrays[index[name]] = pa.compute.if_else(pa.array(lead), pa.nulls(len(column), column.type), column)
        return arrays

    def _meeting_rules(self, batch: pa.RecordBatch, rows: int, rng: np.random.Generator, start: int) -> pa.RecordBatch:
        """``rows`` rows that meet every rule: the batch's, topped up with fresh draws; identifiers renumbered."""
        kept = batch.filter(pa.array(meeting(self.rules, batch)))
        parts, have, drawn = [kept], kept.num_rows, rows
        for _ in range(MAX_REDRAWS):
            if have >= rows:
                break
            share = max(have / drawn, 0.01)  # the acceptance so far, to size the next draw
            extra = self._batch(min(int((rows - have) / share * 1.2) + 16, 10 * rows), rng, start)
            drawn += extra.num_rows
            extra = extra.filter(pa.array(meeting(self.rules, extra)))
            parts.append(extra)
            have += extra.num_rows
        else:
            if have < rows:
                raise SamplingError(
                    f"The {self.generator} model of {self.spec.table!r} cannot meet its edit rules "
                    f"({', '.join(repr(r.name) for r in self.rules)}): {have:,} of {drawn:,} rows drawn met them "
                    f"after {MAX_REDRAWS} redraws. Check the rules against the source (fit warns of a rule the "
                    "source breaks), or fit a richer model (bayesnet with a higher degree)."
                )
        self.rows_drawn += drawn - rows
        table = pa.Table.from_batches(parts).slice(0, rows)
        arrays = [
            decode(np.zeros(rows, dtype=np.int64), col, offset=start) if col.kind == "identifier" else table[col.name]
            for col in self.spec.columns
        ]
        return pa.RecordBatch.from_arrays([pa.concat_arrays(a.chunks) if isinstance(a, pa.ChunkedArray) else a
                                           for a in arrays], names=self.spec.names)

    def to_arrow(self, n: int, seed: int | None = None) -> pa.Table:
        """All ``n`` rows as one Arrow table (for small ``n``; prefer :meth:`sample` or materialize)."""
        return pa.Table.from_batches(list(self.sample(n, seed)))

    def to_pandas(self, n: int, seed: int | None = None) -> pd.DataFrame:
        return self.to_arrow(n, seed).to_pandas()

    # --- persistence --------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        from synthsql import __version__

        return {
            "synthsql": __version__,
            "format": FORMAT,
            "generator": self.generator,
            "params": self.params,
            "seed": self.seed,
            "spec": self.spec.to_json(),
            "quantiles": {k: _nan_to_none(v) for k, v in self.quantiles.items()},
            "state": self._state(),
            **({"privacy": self.privacy} if self.privacy is not None else {}),
            **({"holdout": self.holdout.to_json()} if self.holdout is not None else {}),
            **({"rules": [r.to_json() for r in self.rules]} if self.rules else {}),
            **({"null_blocks": [list(b) for b in self.null_blocks]} if self.null_blocks else {}),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as JSON (aggregates only) and return the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), allow_nan=False, separators=(",", ":")))
        return path

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> Model:
        """The model saved as ``data`` (the object :meth:`to_json` returns, or its JSON text).

        The whole of it is checked before anything is built (:mod:`synthsql.model_format`): an edited, truncated or
        forged model is refused with :class:`ModelFormatError` naming the field at fault by its JSON path.
        """
        if isinstance(data, (str, bytes, bytearray)):
            data = model_format.parse(data)
        if not isinstance(data, Mapping) or "generator" not in data or "format" not in data:
            raise ModelFormatError("This is not a synthsql model: it has no 'generator' and 'format'.")
        version = data["format"]
        if isinstance(version, bool) or version != FORMAT:
            older = " (written by an older synthsql: fit the model again)" if version == 1 else ""
            raise ModelFormatError(
                f"format: model format {model_format.show(version)} is not supported; this synthsql reads "
                f"{FORMAT}{older}."
            )
        name = data["generator"]
        if not isinstance(name, str) or name not in _MODELS:
            hint = did_you_mean(name, _MODELS) if isinstance(name, str) else ""
            raise ModelFormatError(f"generator: unknown generator {model_format.show(name)}.{hint}")
        model_format.check_depth(data)
        model_format.fields(data, "", _REQUIRED, _OPTIONAL)
        kind = _MODELS[name]
        model_format.string(data["synthsql"], "synthsql")
        spec = model_format.check_spec(data["spec"])
        params = data["params"]
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise ModelFormatError(f"params: expected an object of the generator's parameters, got "
                                   f"{model_format.show(params)}.")
        try:
            kind._check_params(params)
        except ModelFormatError:
            raise
        except SynthsqlError as err:
            raise ModelFormatError(f"params: {err}") from None
        seed = data["seed"]
        if seed is not None:
            model_format.integer(seed, "seed", low=0)
        check = model_format.StateCheck(spec)
        check.quantiles(data["quantiles"])
        kind._check_state(data["state"], check)
        privacy = model_format.check_privacy(data.get("privacy"), spec, generator=name, private=kind._private())
        holdout = model_format.check_holdout(data.get("holdout"))
        rules = model_format.check_rules(data.get("rules"), spec)
        blocks = model_format.check_null_blocks(data.get("null_blocks"), spec)
        try:
            model = kind._from_state(
                data["state"], spec=spec, params=params, quantiles=data["quantiles"], seed=seed, privacy=privacy,
                holdout=holdout, rules=rules, null_blocks=blocks,
            )
        except (ValueError, TypeError, KeyError, IndexError, np.linalg.LinAlgError) as err:
            # what the checks above should have caught: still the model file's fault, not a crash
            raise ModelFormatError(f"state: the {name} model cannot be built from it: {err}") from err
        return model


_REQUIRED = ("synthsql", "format", "generator", "params", "seed", "spec", "quantiles", "state")
_OPTIONAL = ("privacy", "holdout", "rules", "null_blocks")


def table_to_json(array: np.ndarray) -> dict[str, Any]:
    """A count or probability table as JSON: its shape and its values in C order."""
    return {"shape": list(array.shape), "values": np.asarray(array).ravel().tolist()}


def table_from_json(data: Mapping[str, Any], dtype: Any) -> np.ndarray:
    return np.asarray(data["values"], dtype=dtype).reshape(data["shape"])


def load(path: str | os.PathLike[str]) -> Model:
    """Read a model saved with :meth:`Model.save`, checked whole first (see :meth:`Model.from_json`)."""
    path = Path(path)
    size = path.stat().st_size
    if size > model_format.MAX_MODEL_BYTES:  # before reading it
        raise ModelFormatError(
            f"Model file {str(path)!r} has {size:,} bytes, over the cap of {model_format.MAX_MODEL_BYTES:,} "
            "(synthsql.model_format.MAX_MODEL_BYTES; raise it to load this model)."
        )
    return Model.from_json(model_format.parse(path.read_bytes(), f"Model file {str(path)!r}"))


def _nan_to_none(array: np.ndarray) -> list[Any]:
    """A quantile table as JSON: None where not measured, exact ints kept (an object table's), floats otherwise."""
    return [[None if _missing(x) else int(x) if isinstance(x, int) else float(x) for x in row] for row in array]


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))
