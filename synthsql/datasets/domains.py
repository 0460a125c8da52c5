"""Public domain declarations for the shipped datasets, for the differentially private methods.

A DP fit needs every modelled column's domain declared from public knowledge, never read from the microdata
(DESIGN.md, "Differential privacy — the rules"). :func:`domains` gives, per dataset, the ``columns=`` overrides of
:func:`synthsql.describe` that do this:

* **categories** are the full category lists of the codebooks (``?CPS1988`` in R package AER; ``?eusilc`` and
  ``?ses`` in laeken), spelled as the R factors spell them, including the codebook categories that happen not to
  occur in the file (SES occupations 13, 61, 92 and pay agreement E). SES's NACE sections are those of the
  codebook (C-O) for which the package defines a label; section L (public administration), optional in SES 2006,
  has none;
* **numeric columns** get bin edges on round numbers, chosen from what the variable *is* (its definition, units,
  legal or definitional bounds, published orders of magnitude), at most 14 intervals each so that AIM's 3-way
  marginals stay small:

  - ages in 5- or 10-year bands with breaks at 16 (EU-SILC asks the personal questionnaire from 16 on, so the
    ``py*`` income components are NULL below 16) and 65 (the statutory retirement age for men in Austria); EU-SILC's
    ``age`` is the age at the end of the income reference year, so children born in the survey year have -1;
  - counts such as household size one cell per value (with a last open class, "9 or more");
  - money on a log-like grid of round numbers (1 000, 2 500, 5 000, 10 000, ...) up to a bound no one exceeds in
    practice; a component that is zero for most people (a benefit, a bonus, overtime pay) gets a point cell for
    exactly 0 (known from the survey design: a component is 0 for everyone who does not receive it), and
    components that can be negative (self-employment losses, tax adjustments) get negative classes;
  - CPS potential experience is age - education - 6 for men aged 18-70 with 0-18 years of schooling, so it lies
    in [-6, 64]; years of schooling below 6 (primary school not completed) are pooled;
  - hours and weeks from the calendar: a year has 52.14 weeks, a month at most 744 hours, a full-time month
    165-175 hours in Austria (38.5-40 hours a week); shares of normal hours are percentages with a point cell for
    100 (full-timers);
  - survey weights around their design values: EU-SILC's mean weight is the population over the sample size (about
    8.3 million / 14 827, near 560); SES's two-stage weights are small multiples of 1 (1, 2, 5, 10, 20 by design
    stratum).

  Values outside a declared domain fall into the column's NULL cell: allowed, and rare here (the tests check that
  under 1% of each column's values do).
* **identifiers** (EU-SILC's household and person ids ``db030``, ``rb030``; SES's place-of-work id ``IDunit``) are
  excluded from modelling (written NULL): surrogate ids would break the household grouping they encode.

Nothing here was derived from the data's quantiles; the files were only checked against the domains afterwards.

>>> import pyarrow.parquet as pq
>>> import synthsql as ss
>>> from synthsql.datasets import path
>>> from synthsql.datasets.domains import domains
>>> db = ss.connect("duckdb://")
>>> db.backend.create_table("cps", pq.read_table(path("cps1988")))  # doctest: +ELLIPSIS
DatabaseTable: ...
>>> spec = ss.describe(db, "cps", columns=domains("cps1988"))
>>> all(c.declared for c in spec.modelled)
True
>>> spec.column("region").categories
('northeast', 'midwest', 'south', 'west')
>>> [c.cells for c in spec.modelled]
[15, 13, 15, 3, 3, 5, 3]
"""

from __future__ import annotations

from typing import Any

from synthsql.errors import InvalidParameterError, did_you_mean

__all__ = ["domains"]


def _edges(*edges: float, zero: bool = False) -> dict[str, Any]:
    """Intervals between ``edges`` (the last one closed); ``zero`` adds a point cell for exactly 0 (points win)."""
    bins: list[list[float]] = [[float(a), float(b)] for a, b in zip(edges, edges[1:])]
    if zero:
        bins.insert(0, [0.0])
    return {"bins": bins}


# Annual net income components in euros (EU-SILC 2006, reference year 2005): 0 exactly for non-recipients, then a
# log-like grid of round amounts up to 250 000 (above any Austrian household's single component in a 6 000-household
# sample; larger values fall into the NULL cell).
_ANNUAL = (0, 1_000, 2_500, 5_000, 10_000, 15_000, 20_000, 30_000, 50_000, 100_000, 250_000)
_EXCLUDED = {"kind": "excluded"}


def _cps1988() -> dict[str, dict[str, Any]]:
    return {
        # Weekly wage in 1988 dollars: men with positive annual earnings; round steps around a median near $500.
        "wage": _edges(0, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1_000, 1_500, 2_000, 5_000, 20_000),
        # Years of schooling 0-18: incomplete primary pooled, then one cell per year from 9 (high-school years on).
        "education": {"bins": [[0, 6], [6, 9], *[[v] for v in range(9, 19)]]},
        # Potential experience = age - education - 6 for ages 18-70, schooling 0-18: within [-6, 64].
        "experience": _edges(-6, 0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65),
        "ethnicity": {"categories": ["cauc", "afam"]},
        "smsa": {"categories": ["no", "yes"]},
        "region": {"categories": ["northeast", "midwest", "south", "west"]},
        "parttime": {"categories": ["no", "yes"]},
    }


def _eusilc() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        "db030": _EXCLUDED,
        "rb030": _EXCLUDED,
        # Persons per household: one cell per size, "9 or more" last.
        "hsize": {"bins": [*[[v] for v in range(1, 9)], [9, 50]]},
        "db040": {
            "categories": [
                "Burgenland", "Carinthia", "Lower Austria", "Salzburg", "Styria",
                "Tyrol", "Upper Austria", "Vienna", "Vorarlberg",
            ]
        },
        # Age at the end of the income reference year (-1: born in the survey year); breaks at 16 and 65.
        "age": _edges(-1, 6, 16, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 75, 120),
        "rb090": {"categories": ["male", "female"]},
        # Economic status, codebook levels 1-7 (full time, part time, unemployed, in education, retired,
        # disabled or other inactive, domestic tasks).
        "pl030": {"categories": ["1", "2", "3", "4", "5", "6", "7"]},
        "pb220a": {"categories": ["AT", "EU", "Other"]},
        # Equivalised household size, modified OECD scale: 1 for the first adult, 0.5 per further person aged 14+,
        # 0.3 per child; 1.0 (a one-person household) is its own cell.
        "eqSS": {"bins": [[1.0], *_edges(1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 10)["bins"]]},
        # Equivalised disposable income (annual euros): finer steps around the 2006 Austrian median (near 18 000)
        # and the at-risk-of-poverty threshold (60% of it, near 11 000).
        "eqIncome": _edges(0, 2_500, 5_000, 7_500, 10_000, 12_500, 15_000, 17_500, 20_000, 25_000, 30_000, 40_000,
                           60_000, 100_000, 250_000, zero=True),
        # Design weights: mean population / sample size, about 560.
        "db090": _edges(0, 250, 500, 750, 1_000, 1_500, 5_000),
        "rb050": _edges(0, 250, 500, 750, 1_000, 1_500, 5_000),
    }
    for name in ("py010n", "py090n", "py100n", "py110n", "py120n", "py130n", "py140n",
                 "hy040n", "hy050n", "hy070n", "hy080n", "hy090n", "hy110n", "hy130n"):
        out[name] = _edges(*_ANNUAL, zero=True)
    # Self-employment can make a loss: one class for it.
    out["py050n"] = _edges(-250_000, *_ANNUAL, zero=True)
    # Tax adjustments are repayments (negative) or receipts (positive).
    out["hy145n"] = _edges(-50_000, -5_000, -1_000, 0, 1_000, 5_000, 50_000, zero=True)
    return out


def _ses() -> dict[str, dict[str, Any]]:
    return {
        "location": {"categories": ["AT1", "AT2", "AT3"]},
        "NACE1": {
            "categories": [
                "C-Mining", "D-Manufactoring", "E-Electricity", "F-Construction", "G-Trade", "H-Hotels",
                "I-Transport", "J-FinancialIntermediation", "K-RealEstate", "M-Education", "N-Health", "O-Other",
            ]
        },
        "size": {"categories": ["E10_49", "E50_249", "E250_499", "E500_999", "E1000"]},
        "economicFinanc": {"categories": ["A", "B"]},
        "payAgreement": {"categories": ["A", "B", "C", "D", "E", "F", "N"]},
        "IDunit": _EXCLUDED,
        "sex": {"categories": ["female", "male"]},
        "age": {"categories": ["(0,15]", "(15,29]", "(29,39]", "(39,49]", "(49,59]", "(59,120]"]},
        "education": {"categories": ["ISCED 0 and 1", "ISCED 2", "ISCED 3 and 4", "ISCED 5A", "ISCED 5B"]},
        # ISCO-88 sub-major groups listed in the codebook.
        "occupation": {
            "categories": [
                "11", "12", "13", "21", "22", "23", "24", "31", "32", "33", "34", "41", "42",
                "51", "52", "61", "71", "72", "73", "74", "81", "82", "83", "91", "92", "93",
            ]
        },
        "contract": {"categories": ["indefinite duration", "temporay/fixed duration", "apprentice"]},
        "fullPart": {"categories": ["FT", "PT"]},
        "lengthService": {
            "categories": ["(-1,0]", "(0,5]", "(5,9]", "(9,14]", "(14,19]", "(19,29]", "(29,39]", "(39,55]"]
        },
        # Weeks paid in the reference year: quarters, then the full year (52.14 weeks).
        "weeks": _edges(0, 4, 8, 13, 26, 39, 48, 52, 53),
        # Hours paid in the reference month: a full-time month is 165-175 hours; a month has at most 744.
        "hoursPaid": _edges(0, 40, 80, 120, 150, 165, 170, 175, 180, 200, 250, 744),
        "overtimeHours": _edges(0, 5, 10, 20, 40, 80, 744, zero=True),
        # Percent of a full-timer's normal hours; 100 (full-timers) is its own cell.
        "shareNormalHours": {"bins": [*_edges(0, 20, 40, 50, 60, 80, 100)["bins"], [100]]},
        # Annual days of holiday leave: Austria grants 25 working days (30 after 25 years of service).
        "holiday": _edges(0, 5, 10, 15, 20, 25, 30, 35, 40, 50, 100),
        # Annual bonuses (13th and 14th month pay and others), euros.
        "notPaid": _edges(0, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000, zero=True),
        # Monthly overtime and shift premiums, euros: 0 for most employees.
        "earningsOvertime": _edges(0, 50, 100, 250, 500, 1_000, 2_500, 25_000, zero=True),
        "paymentsShiftWork": _edges(0, 50, 100, 250, 500, 1_000, 5_000, zero=True),
        # Gross monthly and annual earnings, euros; hourly earnings, euros per hour.
        "earningsMonth": _edges(0, 500, 1_000, 1_500, 2_000, 2_500, 3_000, 3_500, 4_000, 5_000, 6_000, 8_000, 10_000,
                                20_000, 100_000),
        "earnings": _edges(0, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 35_000, 40_000, 50_000, 60_000, 80_000,
                           100_000, 250_000, 1_000_000),
        "earningsHour": _edges(0, 5, 7.5, 10, 12.5, 15, 17.5, 20, 25, 30, 40, 60, 100, 1_000),
        # Two-stage design weights: employers by stratum (1, 2, 5, 10, 20), employees by size class.
        "weightsEmployers": _edges(0, 1.5, 3, 7.5, 15, 50),
        "weightsEmployees": _edges(1, 2, 3, 5, 10, 11, 20, 100),
        "weights": _edges(1, 2, 5, 10, 20, 50, 100, 1_000),
    }


_DATASETS = {"cps1988": _cps1988, "eusilc": _eusilc, "ses": _ses}


def domains(name: str) -> dict[str, dict[str, Any]]:
    """The public ``columns=`` overrides of :func:`synthsql.describe` for the shipped dataset ``name``.

    Every modelled column gets declared ``categories`` or ``bins`` (so DP methods accept it); identifier columns are
    excluded. A fresh dictionary on each call, safe to edit.

    >>> sorted(domains("eusilc")["rb090"]["categories"])
    ['female', 'male']
    >>> domains("eusilc")["py010n"]["bins"][:3]
    [[0.0], [0.0, 1000.0], [1000.0, 2500.0]]
    """
    if name not in _DATASETS:
        raise InvalidParameterError(
            f"Unknown dataset {name!r}.{did_you_mean(name, tuple(_DATASETS))} Datasets: {', '.join(_DATASETS)}."
        )
    return _DATASETS[name]()
