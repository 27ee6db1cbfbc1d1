#!/usr/bin/env python3
"""The rational function octet's CPU GELU computes Phi with (kernels/cpu/eltwise_f32.cpp).

GELU(x) = x * Phi(x), Phi(x) = 1/2 + 1/2 erf(x / sqrt(2)). For |x| <= 5.5 the
odd part 1/2 erf(x / sqrt(2)) is fitted as x * P(x^2) / Q(x^2), P and Q of
degree 5, Q(0) = 1: a weighted linear least-squares fit repeated with the
denominator of the last round (Sanathanan-Koerner) and weights grown where the
error is large (Lawson), which approaches the minimax fit. Past 5.5, Phi is 1
(or 0) to within 1.9e-8, less than half a float ulp of 1.

Prints the largest error of the fit (in float64) and the coefficients as C++
float literals, highest power first. Needs numpy and scipy:
  python3 tests/reference/fit_gelu_rational.py
"""
import numpy as np
from scipy.special import erf

CLAMP = 5.5
DEGREE = 5


def fit(degree=DEGREE, clamp=CLAMP, rounds=200):
    # Points dense near both ends (Chebyshev) and evenly spread; u = (x / clamp)^2 in [0, 1]
    # keeps the powers' columns well conditioned.
    t = np.linspace(0.0, np.pi, 30001)[1:]
    x = np.concatenate([clamp * (1 - np.cos(t)) / 2, np.linspace(1e-5, clamp, 30000)])
    u = (x / clamp) ** 2
    target = 0.5 * erf(x / np.sqrt(2.0))
    powers = u[:, None] ** np.arange(degree + 1)
    denominator = np.ones_like(u)
    lawson = np.ones_like(u)
    best = (np.inf, None, None)
    for round_ in range(rounds):
        # x P(u) - target (Q(u) - 1) = target, each row weighted by lawson / Q_last(u).
        a = np.hstack([x[:, None] * powers, -target[:, None] * powers[:, 1:]])
        weight = lawson / np.abs(denominator)
        coef, *_ = np.linalg.lstsq(a * weight[:, None], target * weight, rcond=None)
        p, q = coef[: degree + 1], np.concatenate([[1.0], coef[degree + 1:]])
        denominator = powers @ q
        error = np.abs(x * (powers @ p) / denominator - target)
        if error.max() < best[0]:
            best = (error.max(), p.copy(), q.copy())
        if round_ > 20:
            lawson = lawson * (error / error.max()) ** 0.3 + 1e-12
            lawson /= lawson.mean()
    error, p, q = best
    scale = clamp ** (-2.0 * np.arange(degree + 1))  # back to powers of s = x^2
    return error, p * scale, q * scale


def main():
    error, p, q = fit()
    print(f"largest |x P(x^2) / Q(x^2) - erf(x / sqrt 2) / 2| on [0, {CLAMP}]: {error:.3g}")
    for name, coef in (("P", p), ("Q", q)):
        print(f"{name}:", ", ".join(f"{np.float32(c)!r}f".replace("np.float32(", "").replace(")", "")
                                   for c in coef[::-1]))


if __name__ == "__main__":
    main()
