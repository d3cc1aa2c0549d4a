"""Figure 1 and Appendix A: what ReLU does to a low-dimensional manifold embedded in n dimensions.

Figure 1: a 2-D spiral x is embedded by a random n x 2 matrix T, passed through ReLU and projected back
by T's pseudo-inverse, y = T^+ ReLU(T x); for n = 2, 3 points collapse onto each other, for n = 15, 30
the map is non-convex but (almost) invertible. Lemma 2 says when: ReLU(Bx) determines x exactly when at
least n coordinates of Bx are positive and their rows of B have rank n (here n = 2, B = T).

Appendix A, Theorem 1: for B of a sign-symmetric density, the expected share of the input that ReLU(Bx)
does not collapse is N(m, n) / 2^m with N(m, n) = sum_{k=0}^{m-n} C(m, k), the chance that at least n
of m symmetric coordinates are positive. `theorem1` evaluates it; `monte_carlo` measures it.
"""

from __future__ import annotations

import math

import numpy as np

FIGURE1_DIMS = (2, 3, 5, 15, 30)


def spiral(points: int = 1000, turns: float = 2.5) -> np.ndarray:
    """(points, 2): an Archimedean spiral centred on the origin (the paper's input manifold)."""
    t = np.linspace(0.05, 1.0, points)
    angle = 2 * np.pi * turns * t
    return np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)


def invertible(b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Lemma 2, per point: (N,) bool, whether ReLU(b x) has a unique preimage (the rows of `b` where
    b x > 0 have rank x's dimension)."""
    n = b.shape[1]
    active = (x @ b.T) > 0  # (N, m)
    return np.array([a.sum() >= n and np.linalg.matrix_rank(b[a]) == n for a in active])


def round_trip(x: np.ndarray, n: int, rng: np.random.Generator) -> dict:
    """Figure 1's map for one n: T^+ ReLU(T x), the share of points Lemma 2 keeps invertible, and the
    mean distance the round trip moves a point."""
    t = rng.standard_normal((n, x.shape[1]))
    y = np.maximum(x @ t.T, 0) @ np.linalg.pinv(t).T
    return {"n": n, "output": y, "invertible_share": float(invertible(t, x).mean()),
            "mean_displacement": float(np.linalg.norm(y - x, axis=1).mean())}


def figure1(dims=FIGURE1_DIMS, seed: int = 0, points: int = 1000) -> list[dict]:
    rng = np.random.default_rng(seed)
    x = spiral(points)
    return [{"n": 0, "output": x, "invertible_share": 1.0, "mean_displacement": 0.0}] + \
        [round_trip(x, n, rng) for n in dims]


def theorem1(m: int, n: int) -> float:
    """Theorem 1's expected non-collapsed share N(m, n) / 2^m (0 when m < n)."""
    return sum(math.comb(m, k) for k in range(0, m - n + 1)) / 2 ** m if m >= n else 0.0


def monte_carlo(m: int, n: int, samples: int = 20_000, seed: int = 0) -> float:
    """The share of (B, x) draws (B Gaussian m x n, x uniform in the unit n-cube centred on 0) for which
    ReLU(B x) is invertible at x by Lemma 2's condition."""
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((samples, m, n))
    x = rng.uniform(-1, 1, (samples, n))
    active = np.einsum("smn,sn->sm", b, x) > 0
    enough = active.sum(axis=1) >= n
    keep = np.zeros(samples, bool)
    for i in np.flatnonzero(enough):  # the rank condition, where there are enough positive rows
        keep[i] = np.linalg.matrix_rank(b[i][active[i]]) == n
    return float(keep.mean())


def appendix_a(pairs=((2, 2), (3, 2), (5, 2), (15, 2), (30, 2), (8, 4), (24, 4), (16, 16), (48, 8)),
               samples: int = 20_000, seed: int = 0) -> list[dict]:
    """Monte Carlo against the closed form for each (m, n); (48, 8) is an expansion of t = 6."""
    return [{"m": m, "n": n, "theorem": theorem1(m, n), "monte_carlo": monte_carlo(m, n, samples, seed + i)}
            for i, (m, n) in enumerate(pairs)]
