"""Differential privacy: a zCDP budget, the two mechanisms synthsql uses, and the ledger of what was spent.

Accounting is in zero-concentrated DP (Bun & Steinke 2016): a budget given as (epsilon, delta) becomes
``rho = cdp_rho(epsilon, delta)`` with the tight conversion of Canonne, Kamath & Steinke (2020, Prop. 12), the one
MST and AIM use (``cdp2adp``), and zCDP composes by adding rhos. Under add/remove-one-row neighbours:

* the **Gaussian mechanism** on the count vector of one marginal (L2 sensitivity 1) with noise of standard deviation
  sigma costs ``rho = 1 / (2 sigma^2)``; the noise is the *discrete* Gaussian, so noisy counts stay integers and no
  floating-point pattern can leak the true count (Mironov 2012);
* the **exponential mechanism** choosing among candidates whose scores have sensitivity ``Delta`` with parameter
  epsilon (probability proportional to ``exp(epsilon * score / (2 Delta))``) costs ``rho = epsilon^2 / 8``
  (Cesar & Rogers 2021), as in AIM.

Every measurement goes through :class:`Budget`, which refuses a step that would overspend *before* the database is
asked for anything (:class:`BudgetExceededError`) and records each step in its ledger (step, columns, mechanism,
rho, sigma, epsilon); the ledger of a fitted model sums to at most the budget.

Noise. By default (``noise="private"``, the only setting for a release) every noise draw comes from OpenDP
(``make_gaussian`` on an integer vector: the exact discrete Gaussian sampler of Canonne, Kamath & Steinke 2020;
``make_noisy_max`` for selection), drawing on the operating system's entropy: OpenDP cannot be seeded, on purpose,
and the sampling seed of a fit never touches the noise. Tests and audits that need the same noisy measurements twice
ask for it explicitly with ``noise="reproducible"`` and a ``noise_seed``: the same exact discrete Gaussian algorithm,
implemented here in integer and rational arithmetic and driven by a SHAKE-256 bit stream keyed by the noise seed
(never ``numpy.random``). Anyone who knows that seed can subtract the noise, so such a release is marked *not
differentially private* in the model, the ``__privacy`` table and the report, and the noise seed itself is never
stored or published. Both samplers are checked against the calibrated variance in the tests.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from synthsql.errors import InvalidParameterError, SynthsqlError
from synthsql.extras import require

__all__ = [
    "Budget",
    "BudgetExceededError",
    "Measurement",
    "cdp_delta",
    "cdp_epsilon",
    "cdp_rho",
    "threshold_for",
    "SeededNoise",
    "OpenDPNoise",
    "NOISE",
]

#: Where the noise comes from: ``private`` (OpenDP, unseeded: the setting for a release) or ``reproducible``
#: (seeded by a ``noise_seed``: NOT differentially private, for tests and audits only).
NOISE = ("private", "reproducible")

_log = logging.getLogger("synthsql")


class BudgetExceededError(SynthsqlError):
    """A step would spend more privacy budget than is left; nothing was measured."""


# --------------------------------------------------------------------------------------------------------------
# zCDP <-> (epsilon, delta): Canonne, Kamath & Steinke (2020), Proposition 12, as in MST/AIM's cdp2adp.py
# --------------------------------------------------------------------------------------------------------------
def cdp_delta(rho: float, epsilon: float) -> float:
    """The smallest delta such that rho-zCDP implies (epsilon, delta)-DP (tight conversion, CKS20 Prop. 12)."""
    if rho < 0 or epsilon < 0:
        raise ValueError("rho and epsilon must be >= 0")
    if rho == 0:
        return 0.0
    lo, hi = 1.01, (epsilon + 1) / (2 * rho) + 2
    for _ in range(200):  # the optimal order alpha: the derivative of the bound changes sign once
        alpha = (lo + hi) / 2
        if (2 * alpha - 1) * rho - epsilon + math.log1p(-1.0 / alpha) < 0:
            lo = alpha
        else:
            hi = alpha
    alpha = (lo + hi) / 2
    log_delta = (alpha - 1) * (alpha * rho - epsilon) + alpha * math.log1p(-1 / alpha) - math.log(alpha - 1.0)
    return min(math.exp(log_delta), 1.0) if log_delta < 700 else 1.0


def cdp_epsilon(rho: float, delta: float) -> float:
    """The smallest epsilon such that rho-zCDP implies (epsilon, delta)-DP."""
    if delta >= 1:
        return 0.0
    lo, hi = 0.0, rho + 2 * math.sqrt(rho * math.log(1 / delta)) + 1e-12
    for _ in range(200):
        eps = (lo + hi) / 2
        if cdp_delta(rho, eps) <= delta:
            hi = eps
        else:
            lo = eps
    return hi


def cdp_rho(epsilon: float, delta: float) -> float:
    """The largest rho such that rho-zCDP implies (epsilon, delta)-DP."""
    lo, hi = 0.0, epsilon + 1
    for _ in range(200):
        rho = (lo + hi) / 2
        if cdp_delta(rho, epsilon) <= delta:
            lo = rho
        else:
            hi = rho
    return lo


# --------------------------------------------------------------------------------------------------------------
# Noise sources
# --------------------------------------------------------------------------------------------------------------
class SeededNoise:
    """Exact discrete Gaussian and exponential-mechanism samplers driven by a SHAKE-256 stream keyed by ``seed``.

    The discrete Gaussian follows Canonne, Kamath & Steinke (2020), Algorithms 1-3: Bernoulli(exp(-gamma)) by
    comparing uniform integers with rationals, a discrete Laplace proposal, then rejection. No floating point
    touches a noisy count.
    """

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"synthsql-noise:{int(seed)}".encode()).digest()
        self._block = 0
        self._pool = 0
        self._bits = 0

    # --- uniform bits ---------------------------------------------------------------------------------------
    def _take(self, k: int) -> int:
        while self._bits < k:
            chunk = hashlib.shake_256(self._key + self._block.to_bytes(8, "big")).digest(64)
            self._block += 1
            self._pool = (self._pool << 512) | int.from_bytes(chunk, "big")
            self._bits += 512
        self._bits -= k
        value = self._pool >> self._bits
        self._pool &= (1 << self._bits) - 1
        return value

    def below(self, n: int) -> int:
        """A uniform integer in [0, n), by rejection (no modulo bias)."""
        k = max(1, (n - 1).bit_length())
        while True:
            value = self._take(k)
            if value < n:
                return value

    def bernoulli(self, p: Fraction) -> bool:
        return self.below(p.denominator) < p.numerator

    def bernoulli_exp(self, gamma: Fraction) -> bool:
        """Bernoulli(exp(-gamma)) for a rational gamma >= 0 (CKS20 Algorithm 1)."""
        while gamma > 1:
            if not self.bernoulli_exp(Fraction(1)):
                return False
            gamma -= 1
        k = 1
        while self.bernoulli(gamma / k):
            k += 1
        return k % 2 == 1

    def discrete_laplace(self, t: int) -> int:
        """Discrete Laplace with scale ``t``: P(x) proportional to exp(-|x| / t) (CKS20 Algorithm 2, s = 1)."""
        while True:
            u = self.below(t)
            if not self.bernoulli_exp(Fraction(u, t)):
                continue
            v = 0
            while self.bernoulli_exp(Fraction(1)):
                v += 1
            y = u + t * v
            negative = self.below(2) == 1
            if negative and y == 0:
                continue
            return -y if negative else y

    def discrete_gaussian(self, sigma2: Fraction) -> int:
        """Discrete Gaussian with variance parameter ``sigma2``: P(x) proportional to exp(-x^2 / (2 sigma2))."""
        t = math.isqrt(sigma2.numerator // sigma2.denominator) + 1
        while True:
            y = self.discrete_laplace(t)
            gamma = (abs(y) - sigma2 / t) ** 2 / (2 * sigma2)
            if self.bernoulli_exp(gamma):
                return y

    def gaussian(self, counts: np.ndarray, sigma: float) -> np.ndarray:
        sigma2 = Fraction(sigma) ** 2
        noise = [self.discrete_gaussian(sigma2) for _ in range(counts.size)]
        return counts.astype(np.int64) + np.asarray(noise, dtype=np.int64).reshape(counts.shape)

    def select(self, scores: np.ndarray, scale: float) -> int:
        """Report noisy max with Gumbel noise of ``scale`` (the exponential mechanism), from 53-bit uniforms."""
        u = np.array([(self._take(53) + 0.5) / 2.0**53 for _ in range(scores.size)])
        return int(np.argmax(scores / scale - np.log(-np.log(u))))


class OpenDPNoise:
    """OpenDP's samplers (operating-system entropy; cannot be seeded): the noise for a release."""

    def __init__(self) -> None:
        dp = require("opendp.prelude", "dp")

        dp.enable_features("contrib")
        self._dp = dp

    def gaussian(self, counts: np.ndarray, sigma: float) -> np.ndarray:
        dp = self._dp
        space = dp.vector_domain(dp.atom_domain(T=int)), dp.l2_distance(T=int)
        measure = space >> dp.m.then_gaussian(scale=float(sigma))
        noisy = measure([int(x) for x in counts.ravel()])
        return np.asarray(noisy, dtype=np.int64).reshape(counts.shape)

    def select(self, scores: np.ndarray, scale: float) -> int:
        dp = self._dp
        space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.linf_distance(T=float)
        measure = dp.m.make_noisy_max(*space, dp.zero_concentrated_divergence(), scale=float(scale))
        return int(measure([float(s) for s in scores]))


def threshold_for(sigma: float, delta: float) -> tuple[int, float]:
    """The smallest integer threshold at which OpenDP's Gaussian-threshold privacy map gives at most ``delta`` for
    one row (l0 = l2 = linf = 1), and that delta."""
    dp = require("opendp.prelude", "dp")

    dp.enable_features("contrib")
    space = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int)), dp.l02inf_distance(dp.absolute_distance(T=int))

    def delta_at(tau: int) -> float:
        return float(dp.m.make_gaussian_threshold(*space, scale=float(sigma), threshold=tau).map((1, 1, 1))[1])

    from scipy.stats import norm

    tau = max(2, int(math.floor(1 + sigma * norm.isf(delta))) - 2)
    while delta_at(tau) > delta:
        tau += 1
    return tau, delta_at(tau)


# --------------------------------------------------------------------------------------------------------------
# The budget and its ledger
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    """One line of the ledger."""

    step: str
    columns: tuple[str, ...]
    mechanism: str  # "gaussian", "exponential" or "gaussian threshold"
    rho: float
    sigma: float | None = None
    epsilon: float | None = None
    delta: float | None = None  # the delta of a threshold (unknown-domain) release

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["columns"] = list(self.columns)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        return cls(**{**data, "columns": tuple(data["columns"])})


def _check_epsilon_delta(epsilon: Any, delta: Any) -> tuple[float, float]:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) or epsilon <= 0:
        raise InvalidParameterError(f"The privacy parameter 'epsilon' must be a finite number > 0, got {epsilon!r}.")
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise InvalidParameterError(
            f"The privacy parameter 'delta' must be in (0, 1), got {delta!r} (1e-9 is a common choice; it should be "
            "far below 1 / the number of rows)."
        )
    return float(epsilon), float(delta)


def check_noise(noise: Any, noise_seed: Any) -> str:
    """Validate the noise setting: ``"private"`` without a seed, or ``"reproducible"`` with an integer seed."""
    if noise not in NOISE:
        raise InvalidParameterError(
            f"The 'noise' setting must be 'private' (OpenDP's unseeded noise: the setting for a release) or "
            f"'reproducible' (seeded, NOT differentially private), got {noise!r}."
        )
    if noise == "private" and noise_seed is not None:
        raise InvalidParameterError(
            "A 'noise_seed' applies only to noise='reproducible'; private noise cannot be seeded (the fit's seed "
            "drives sampling only, never the noise)."
        )
    if noise == "reproducible" and (
        isinstance(noise_seed, bool) or not isinstance(noise_seed, (int, np.integer)) or noise_seed < 0
    ):
        raise InvalidParameterError(
            f"noise='reproducible' needs a 'noise_seed', an int >= 0 that is never stored in the model; got "
            f"{noise_seed!r}."
        )
    return str(noise)


def _positive(name: str, value: Any, step: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (
        math.isfinite(value) and value > 0
    ):
        raise InvalidParameterError(f"Step {step!r}: the {name!r} of a mechanism must be a finite number > 0, got {value!r}.")
    return float(value)


class Budget:
    """A privacy budget of (epsilon, delta), kept as zCDP rho, with the ledger of every measurement.

    ``noise`` chooses the noise source (see the module documentation): ``"private"`` (default) for OpenDP's
    unseeded samplers; ``"reproducible"`` with an integer ``noise_seed`` for the seeded exact sampler, which makes the
    release NOT differentially private (whoever learns the seed can remove the noise) and is recorded as such.
    ``delta_reserved`` (a part of ``delta``) is set aside for threshold releases over an unknown domain (category
    discovery), which are approximate zCDP: the rest of ``delta`` converts epsilon to rho, and a
    (rho, delta')-approximately-zCDP release with delta' within the reserve keeps the whole at (epsilon, delta).

    >>> b = Budget(1.0, 1e-9)
    >>> round(b.rho, 5), b.differentially_private
    (0.01497, True)
    >>> noisy = b.gaussian(np.array([10, 20]), sigma=b.sigma_for(b.rho / 2), step="1-way", columns=("x",))
    >>> len(b.ledger), b.spent <= b.rho / 2
    (1, True)
    >>> b.gaussian(np.array([1]), sigma=1e-3, step="again", columns=("x",))
    Traceback (most recent call last):
    ...
    synthsql.privacy.BudgetExceededError: Step 'again' on ('x',) needs rho=500000 but only 0.007487 of rho=0.01497 is left ...
    """

    def __init__(
        self,
        epsilon: float,
        delta: float,
        *,
        noise: str = "private",
        noise_seed: int | None = None,
        delta_reserved: float = 0.0,
    ) -> None:
        self.epsilon, self.delta = _check_epsilon_delta(epsilon, delta)
        if isinstance(delta_reserved, bool) or not isinstance(delta_reserved, (int, float)) or not (
            0 <= delta_reserved < self.delta
        ):
            raise InvalidParameterError(f"delta_reserved must be in [0, delta), got {delta_reserved!r}.")
        self.delta_reserved = float(delta_reserved)
        self.rho = cdp_rho(self.epsilon, self.delta - self.delta_reserved)
        self.ledger: list[Measurement] = []
        self.noise_source = check_noise(noise, noise_seed)
        if self.noise_source == "reproducible":
            _log.warning(
                "noise='reproducible': the noise is seeded, so this release is NOT differentially private (anyone "
                "who learns the noise seed can remove the noise); it is marked so in the model, the __privacy table "
                "and the report. Use the default noise='private' for a release."
            )
            self.noise: SeededNoise | OpenDPNoise = SeededNoise(int(noise_seed))  # type: ignore[arg-type]
        else:
            self.noise = OpenDPNoise()

    @property
    def differentially_private(self) -> bool:
        """True unless the noise was asked to be reproducible."""
        return self.noise_source == "private"

    def __repr__(self) -> str:
        return f"Budget(epsilon={self.epsilon}, delta={self.delta}, rho={self.rho:.6g}, spent={self.spent:.6g})"

    @property
    def spent(self) -> float:
        return math.fsum(m.rho for m in self.ledger)

    @property
    def remaining(self) -> float:
        """The rho left, rounded down so that spending all of it never exceeds the budget."""
        rhos = [m.rho for m in self.ledger]
        left = max(self.rho - math.fsum(rhos), 0.0)
        while left > 0 and math.fsum([*rhos, left]) > self.rho:
            left = math.nextafter(left, 0.0)
        return left

    @staticmethod
    def sigma_for(rho: float) -> float:
        """The Gaussian noise scale that spends ``rho`` (never more, after rounding) on one count vector of L2
        sensitivity 1."""
        sigma = math.sqrt(1.0 / (2.0 * rho))
        while 1.0 / (2.0 * sigma**2) > rho:
            sigma = math.nextafter(sigma, math.inf)
        return sigma

    def check(self, rho: float, step: str, columns: Sequence[str] = ()) -> None:
        """Raise :class:`BudgetExceededError` if spending ``rho`` now would exceed the budget."""
        if not rho > 0 or not math.isfinite(rho):
            raise BudgetExceededError(f"Step {step!r} asks for rho={rho!r}; a measurement needs a finite rho > 0.")
        if math.fsum([m.rho for m in self.ledger] + [rho]) > self.rho:
            raise BudgetExceededError(
                f"Step {step!r} on {tuple(columns)} needs rho={rho:.6g} but only {self.rho - self.spent:.4g} of "
                f"rho={self.rho:.4g} is left (epsilon={self.epsilon:g}, delta={self.delta:g}). Raise epsilon, or give "
                "the method a plan that spends less."
            )

    def check_plan(self, rhos: Sequence[float], method: str) -> None:
        """Refuse a whole plan up front: its steps must each be positive and together fit in what is left."""
        total = math.fsum(rhos)
        exhausted = self.remaining < 1e-9 * self.rho  # what rounding leaves behind is not a budget
        if exhausted or any(not r > 0 for r in rhos) or total > self.remaining * (1 + 1e-12):
            raise BudgetExceededError(
                f"The plan of {method!r} needs rho={total:.6g} in {len(rhos)} steps, but only {self.remaining:.6g} of "
                f"rho={self.rho:.6g} is left (epsilon={self.epsilon:g}, delta={self.delta:g}); nothing was measured."
            )

    def gaussian(self, counts: np.ndarray, *, sigma: float, step: str, columns: Sequence[str]) -> np.ndarray:
        """Counts plus discrete Gaussian noise of scale ``sigma`` (rho = 1 / (2 sigma^2)), recorded in the ledger."""
        rho = 1.0 / (2.0 * _positive("sigma", sigma, step) ** 2)
        self.check(rho, step, columns)
        self.ledger.append(Measurement(step, tuple(columns), "gaussian", rho, sigma=float(sigma)))
        return self.noise.gaussian(np.asarray(counts), sigma)

    def exponential(
        self, scores: Sequence[float], *, epsilon: float, sensitivity: float, step: str, columns: Sequence[str]
    ) -> int:
        """The index chosen by the exponential mechanism (rho = epsilon^2 / 8), recorded in the ledger."""
        rho = _positive("epsilon", epsilon, step) ** 2 / 8.0
        _positive("sensitivity", sensitivity, step)
        self.check(rho, step, columns)
        self.ledger.append(Measurement(step, tuple(columns), "exponential", rho, epsilon=float(epsilon)))
        return self.noise.select(np.asarray(scores, dtype=np.float64), 2.0 * sensitivity / epsilon)

    @property
    def delta_spent(self) -> float:
        return math.fsum(m.delta or 0.0 for m in self.ledger)

    def threshold(
        self, counts: Mapping[Any, int], *, sigma: float, delta: float, step: str, columns: Sequence[str]
    ) -> dict[Any, int]:
        """The keys whose noisy count clears a threshold, with their noisy counts (Gaussian thresholding over an
        unknown domain, Rogers 2023): rho = 1 / (2 sigma^2) and a ``delta`` from the reserve. The threshold is the
        smallest one whose delta, as OpenDP's privacy map computes it, is at most ``delta``."""
        rho = 1.0 / (2.0 * _positive("sigma", sigma, step) ** 2)
        self.check(rho, step, columns)
        if delta <= 0 or math.fsum([self.delta_spent, delta]) > self.delta_reserved:
            raise BudgetExceededError(
                f"Step {step!r} on {tuple(columns)} needs delta={delta:.3g} but only "
                f"{self.delta_reserved - self.delta_spent:.3g} of the reserved delta is left."
            )
        tau, actual = threshold_for(sigma, delta)
        self.ledger.append(
            Measurement(step, tuple(columns), "gaussian threshold", rho, sigma=float(sigma), delta=actual)
        )
        keys = list(counts)
        noisy = self.noise.gaussian(np.array([int(counts[k]) for k in keys], dtype=np.int64), sigma)
        return {k: int(v) for k, v in zip(keys, noisy, strict=True) if v >= tau}

    def to_json(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "delta_reserved": self.delta_reserved,
            "rho": self.rho,
            "noise": self.noise_source,
            "differentially_private": self.differentially_private,
            "ledger": [m.to_json() for m in self.ledger],
        }
