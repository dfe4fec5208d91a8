#!/usr/bin/env python3
"""Reference values of the regularized incomplete beta I_x(a, b), the Beta CDF.

Writes internal/bandit/testdata/reg_inc_beta.json. For integer a and b the
value is the binomial tail I_x(a, b) = P(Binomial(a+b-1, x) >= a), summed at
50 digits from the largest term outwards until the terms fall below 1e-60
of the sum; for small non-integer parameters it is mpmath.betainc. The Go
tests use these to check the package's own incomplete beta and the
credible intervals built on it at counts up to 2e7.

Usage: python3 hack/bandit/inc_beta_fixture.py [output.json]
"""

import json
import os
import sys

import mpmath as mp

mp.mp.dps = 50


def binomial_terms(n, x, mode, top):
    """Yields (k, P(Binomial(n, x) = k)) from the mode, whose term is top, up to n and then down
    to 0, each way until a term falls below 1e-60 of top."""
    ratio_up = x / (1 - x)
    tiny = top * mp.mpf(10) ** -60
    term, k = top, mode
    yield k, term
    while k < n:  # walk up from the mode
        term *= mp.mpf(n - k) / (k + 1) * ratio_up
        k += 1
        yield k, term
        if term < tiny:
            break
    term, k = top, mode
    while k > 0:  # walk down from the mode
        term *= mp.mpf(k) / (n - k + 1) / ratio_up
        k -= 1
        yield k, term
        if term < tiny:
            break


def binomial_tail(a, b, x):
    """P(Binomial(n, x) >= a) with n = a + b - 1, for integer a, b >= 1."""
    n = a + b - 1
    x = mp.mpf(x)
    mode = min(max(int((n + 1) * x), 0), n)
    log_pmf = (mp.loggamma(n + 1) - mp.loggamma(mode + 1) - mp.loggamma(n - mode + 1)
               + mode * mp.log(x) + (n - mode) * mp.log(1 - x))
    top = mp.exp(log_pmf)
    upper, lower = mp.mpf(0), mp.mpf(0)  # sums of terms k >= a and k < a
    for k, term in binomial_terms(n, x, mode, top):
        if k >= a:
            upper += term
        else:
            lower += term
    return upper / (upper + lower)


def cases():
    rows = []
    for a, b in [(11, 21), (101, 901), (5001, 5001), (100001, 900001), (1000001, 9000001),
                 (10000001, 10000001), (10001, 9990001), (19990001, 10001)]:
        n = a + b
        mean = mp.mpf(a) / n
        sd = mp.sqrt(mp.mpf(a) * b / (n * n * (n + 1)))
        for k in [-6, -2, -0.5, 0, 1, 3, 6]:
            x = float(mean + k * sd)
            if 0 < x < 1:
                rows.append((a, b, x, binomial_tail(a, b, x)))
    for a, b, x in [(0.5, 0.5, 0.1), (0.3, 0.7, 0.999), (2.5, 7.25, 0.3), (6.123456, 3.876544, 0.6),
                    (106.123456, 903.876544, 0.1), (0.3, 200.0, 0.001)]:
        rows.append((a, b, x, mp.betainc(a, b, 0, x, regularized=True)))
    return rows


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "..", "internal", "bandit", "testdata", "reg_inc_beta.json")
    rows = [{"a": repr(float(a)), "b": repr(float(b)), "x": repr(x),
             "cdf": mp.nstr(v, 30, min_fixed=-mp.inf, max_fixed=mp.inf)} for a, b, x, v in cases()]
    with open(out, "w") as f:
        json.dump({"digits": 50, "generator": "hack/bandit/inc_beta_fixture.py", "cases": rows}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
