#!/usr/bin/env python3
"""Reference values of P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2).

Writes internal/bandit/testdata/prob_greater.json. Every value is computed
with mpmath at 40 significant digits by direct numerical integration of

    P(X > Y) = integral over t of f_X(t) * F_Y(t)  (or of f_Y(t) * (1 - F_X(t))),

never by the series that the Go code sums:

  * when both arms have small parameters, mpmath.quad (tanh-sinh, which
    copes with the endpoint singularities of shapes below one) runs over
    [0, 1] split at both arms' means and a ladder of standard deviations,
    with the CDF from mpmath.betainc;
  * when an arm has large parameters its density lives in a window of
    +-50 standard deviations; the outer integral is then a sum of 24-point
    Gauss-Legendre panels one standard deviation wide, and a large arm's CDF
    at the nodes is accumulated panel by panel from the same kind of rule.

Where Y's alpha is an integer the result is also checked against Evan
Miller's finite sum, evaluated term by term at 60 digits; the two must agree
to 1e-25. Floats are written with repr(), so the Go test parses exactly the
parameters that were integrated.

Usage: python3 hack/bandit/prob_greater_fixture.py [output.json]
(needs mpmath, e.g. Debian's python3-mpmath; about 4 minutes of CPU time)
"""

import json
import os
import sys

import mpmath as mp

mp.mp.dps = 40
GL_NODES = 24
LADDER = [-20, -10, -6, -3, -1, 0, 1, 3, 6, 10, 20, 40, 80, 150]
WINDOW_SD = 50


def is_small(a, b):
    """mpmath.betainc converges quickly for these parameters."""
    return min(a, b) <= 50 or max(a, b) <= 2000


def log_density(a, b, lbeta):
    def f(t):
        if t <= 0 or t >= 1:
            return mp.mpf(0)  # a null set; the density may be infinite there
        return mp.exp((a - 1) * mp.log(t) + (b - 1) * mp.log(1 - t) - lbeta)
    return f


def arm(a, b):
    a, b = mp.mpf(a), mp.mpf(b)
    n = a + b
    mean = a / n
    sd = mp.sqrt(a * b / (n * n * (n + 1)))
    lbeta = mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(n)
    return {
        "a": a, "b": b, "mean": mean, "sd": sd,
        "pdf": log_density(a, b, lbeta),
        "cdf": lambda t: clamped_cdf(a, b, mean, sd, t),
        "small": is_small(float(a), float(b)),
    }


def clamped_cdf(a, b, mean, sd, t):
    """mpmath.betainc, taken as exactly 0 or 1 more than 150 standard
    deviations from the mean, where even an exponential tail (a shape of 0.3
    against 1e7 failures) holds less than 1e-60 and the hypergeometric
    series inside betainc stops converging."""
    if t >= mean + 150 * sd:
        return mp.mpf(1)
    if t <= mean - 150 * sd:
        return mp.mpf(0)
    return mp.betainc(a, b, 0, t, regularized=True)


def breakpoints(x, ks):
    pts = []
    for k in ks:
        t = x["mean"] + k * x["sd"]
        if 0 < t < 1:
            pts.append(t)
    return pts


def window(x):
    return breakpoints(x, range(-WINDOW_SD, WINDOW_SD + 1))


_nodes, _weights = None, None


def gauss_legendre():
    global _nodes, _weights
    if _nodes is None:
        # Nodes and weights on [-1, 1] from mpmath's Legendre roots.
        nodes, weights = [], []
        n = GL_NODES
        for i in range(1, n + 1):
            x = mp.cos(mp.pi * (i - mp.mpf(1) / 4) / (n + mp.mpf(1) / 2))
            for _ in range(100):
                # P_n(x) and P_n'(x) by the three-term recurrence; Newton step.
                p0, p1 = mp.mpf(1), x
                for k in range(2, n + 1):
                    p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
                dp = n * (x * p1 - p0) / (x * x - 1)
                step = p1 / dp
                x -= step
                if abs(step) < mp.mpf(10) ** -45:
                    break
            nodes.append(x)
            weights.append(2 / ((1 - x * x) * dp * dp))
        _nodes, _weights = nodes, weights
    return _nodes, _weights


def gl(f, lo, hi):
    nodes, weights = gauss_legendre()
    half, mid = (hi - lo) / 2, (hi + lo) / 2
    return half * mp.fsum(w * f(mid + half * x) for x, w in zip(nodes, weights))


def both_small(x, y):
    if min(x["a"], x["b"]) < min(y["a"], y["b"]):
        # Integrate against the less singular density: P(X > Y) = 1 - P(Y > X).
        return 1 - both_small(y, x)
    splits = sorted(set([mp.mpf(0), mp.mpf(1)] +
                        breakpoints(x, LADDER) + breakpoints(y, LADDER)))
    value, err = mp.quad(lambda t: x["pdf"](t) * y["cdf"](t), splits, error=True, maxdegree=10)
    assert err < mp.mpf(10) ** -20, err
    return value


def outer_large(outer, inner_cdf):
    """Integral of f_outer(t) * inner_cdf(t) over the outer arm's window."""
    pts = sorted(set(window(outer) + [mp.mpf(0) if outer["mean"] - WINDOW_SD * outer["sd"] <= 0 else None]
                     + [mp.mpf(1) if outer["mean"] + WINDOW_SD * outer["sd"] >= 1 else None]) - {None})
    return mp.fsum(gl(lambda t: outer["pdf"](t) * inner_cdf(t), lo, hi) for lo, hi in zip(pts, pts[1:]))


def both_large(x, y):
    """Integral of f_X * F_Y with F_Y accumulated over a shared panel grid."""
    pts = sorted(set(window(x) + window(y)))
    x_lo, x_hi = x["mean"] - WINDOW_SD * x["sd"], x["mean"] + WINDOW_SD * x["sd"]
    y_lo = y["mean"] - WINDOW_SD * y["sd"]
    pts = [t for t in pts if t >= min(x_lo, y_lo)]
    total, cdf_y = mp.mpf(0), mp.mpf(0)  # F_Y below its window is < 1e-500
    for lo, hi in zip(pts, pts[1:]):
        if hi > x_lo and lo < x_hi:
            total += gl(lambda t: x["pdf"](t) * (cdf_y + gl(y["pdf"], lo, t)), lo, hi)
        cdf_y += gl(y["pdf"], lo, hi)
        if lo > x_hi:
            break
    return total


def prob_greater(a1, b1, a2, b2):
    if a1 / (a1 + b1) + a2 / (a2 + b2) > 1:
        # Mass near 1: reflect, P(X > Y) = P(1 - Y > 1 - X), so that the
        # integration runs near 0, where 40 digits resolve the distance to
        # the end.
        return prob_greater(b2, a2, b1, a1)
    x, y = arm(a1, b1), arm(a2, b2)
    if x["small"] and y["small"]:
        return both_small(x, y)
    if not x["small"] and y["small"]:
        return outer_large(x, y["cdf"])
    if x["small"] and not y["small"]:
        return outer_large(y, lambda t: 1 - x["cdf"](t))
    return both_large(x, y)


def miller_sum(a1, b1, a2, b2):
    """P(X > Y) = 1 - sum_{i<a2} B(a1+i, b1+b2)/((b2+i) B(1+i, b2) B(a1, b1))."""
    with mp.workdps(60):
        a1, b1, a2, b2 = (mp.mpf(v) for v in (a1, b1, a2, b2))
        def lb(p, q):
            return mp.loggamma(p) + mp.loggamma(q) - mp.loggamma(p + q)
        term = mp.exp(lb(a1, b1 + b2) - mp.log(b2) - lb(1, b2) - lb(a1, b1))
        total = term
        for i in range(int(a2) - 1):
            # ratio of term i+1 to term i
            term *= (a1 + i) * (b2 + i) * (i + 1 + b2) / ((a1 + b1 + b2 + i) * (b2 + i + 1) * (i + 1))
            total += term
        return 1 - total


# One case a line: its name, then X ~ Beta(a1, b1) and Y ~ Beta(a2, b2). Parameters
# ending in .123456 and .876544 are a child's cautious prior (6.123456, 3.876544) plus
# counts, so that non-integer parameters are covered at every scale; 4.234 and 48.766
# are a prior of strength 10 plus a few counts.
CASES = """
# case                                                  a1              b1           a2         b2
uniform vs uniform                                       1               1            1          1
one success vs uniform                                   2               1            1          1
few counts                                               4               8            7          5
few counts reversed                                      7               5            4          8
tail at ten counts                                      11               1            1         11
far tail at forty counts                                 1              41           41          1
tail 3e-7 at twenty counts                               2              17           16          3
far tail at twenty counts                                1              21           21          1
shapes below one                                       0.3             0.5          0.5        0.3
shapes below one, symmetric                            0.5             0.5          0.3        0.3
jeffreys vs beta(2,2)                                  0.3             0.3            2          2
small alpha, some failures                             0.5            10.5          0.3       20.3
non-integer prior, 80 counts                     56.123456       33.876544           51         31
non-integer prior, 900 counts                   506.123456      403.876544          451        401
child prior, tiny strength                           4.234          48.766            5         41
1e3 counts                                             101             901          121        881
1e3 counts equal                                     500.5           500.5        500.5      500.5
1e4 counts close                                      1001            9001         1021       8981
1e5 counts                                           10001           90001        10101      89901
1e5 counts non-integer prior                  10006.123456    90003.876544        10001      90001
1e5 counts tail 1e-10                                10001           90001        10861      89141
1e5 counts tail 1e-10 reversed                       10861           89141        10001      90001
1e6 counts                                          100001          900001       100101     899901
1e6 counts non-integer both                  100006.123456   900003.876544     100052.5   899957.5
1e7 counts one sd apart                            1000001         9000001      1000301    8999701
1e7 counts tail 1e-10                              1000001         9000001      1008601    8991401
1e7 counts non-integer                      1000006.123456  9000003.876544    1000200.5  8999800.5
1e7 counts, low rate                                 10001         9990001        10201    9989801
1e7 counts, high rate                              9990001           10001      9989701      10301
1e7 counts, half rate                              5000001         5000001      5001501    4998501
symmetric about one half, different counts         5000001         5000001       500001     500001
1e7 vs uniform (equals the mean)                   1000001         9000001            1          1
1e7 vs 10 counts                                   1000001         9000001            2         10
10 vs 1e7 counts                                         3               9      1000001    9000001
1e7 vs 1e3 counts                                  1000001         9000001           96        906
1e5 vs 1e7 counts                                    10101           89901      1000001    9000001
shapes below one vs 1e7 at one half                    0.3             0.5      5000000    5000000
1e7 at one half vs shapes below one                5000000         5000000          0.5        0.3
no successes in 1e7, small priors                      0.3        10000000          0.5   10000000
no successes in 1e4, small priors                      0.3           10000          1.5      10000
all successes in 1e7                              10000000             0.5     10000002        0.5
1e7 failures vs few                                      1        10000001            1          3
1e6 vs 1e6 integer, tail                            200001          800001       202551     797451
small vs mid, non-integer                              2.5             3.5       250.25     350.75
1e3 non-integer tail                            106.123456      903.876544        200.5      800.5
"""


def cases():
    for line in CASES.splitlines():
        if line.strip() and not line.startswith("#"):
            *words, a1, b1, a2, b2 = line.split()
            yield " ".join(words), float(a1), float(b1), float(a2), float(b2)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "..", "internal", "bandit", "testdata", "prob_greater.json")
    rows = []
    for name, a1, b1, a2, b2 in cases():
        p = prob_greater(a1, b1, a2, b2)
        row = {"name": name, "a1": repr(a1), "b1": repr(b1), "a2": repr(a2), "b2": repr(b2),
               "p": mp.nstr(p, 30, min_fixed=-mp.inf, max_fixed=mp.inf)}
        if a2 == int(a2) and a2 <= 2e5:
            m = miller_sum(a1, b1, a2, b2)
            assert abs(m - p) < mp.mpf(10) ** -25, (name, p, m)
            row["checked"] = "miller sum"
        rows.append(row)
        print(f"{name:50s} {mp.nstr(p, 20)}", file=sys.stderr, flush=True)
    with open(out, "w") as f:
        json.dump({"digits": 40, "generator": "hack/bandit/prob_greater_fixture.py", "cases": rows}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
