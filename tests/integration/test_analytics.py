"""Distributions for violin plots and ALV jubilee candidates, checked independently."""
import datetime as dt
import math

import pytest

from conftest import run, run_json
from test_query import duck


def report(sample, *args):
    return run_json("report", *args, "--lake", sample["lake"], "--format", "json")["rows"]


@pytest.mark.parametrize("name, column", [("age-distribution", "leeftijd"),
                                          ("membership-distribution", "jaren_lid")])
def test_distribution_quantiles_equal_duckdb(sample, name, column):
    ours = {r["regio"]: r for r in report(sample, name)}
    theirs = duck(sample, f"""select regio, count({column}), min({column}), quantile_cont({column}, 0.25),
                             quantile_cont({column}, 0.5), quantile_cont({column}, 0.75), max({column}),
                             avg({column}) from m where status = 'Actief' and {column} is not null
                             group by 1 order by 1""")
    assert list(ours) == [row[0] for row in theirs]
    for regio, n, lo, p25, p50, p75, hi, mean in theirs:
        r = ours[regio]
        assert (r["n"], r["min"], r["max"]) == (n, lo, hi)
        for key, value in (("p25", p25), ("p50", p50), ("p75", p75), ("mean", mean)):
            assert r[key] == pytest.approx(value, rel=1e-9), (regio, key)


def test_density_points_match_an_independent_kde(sample):
    row = report(sample, "age-distribution", "--region", "Utrecht")[0]
    values = sorted(v for (v,) in duck(sample, "select leeftijd from m where status = 'Actief' and regio = 'Utrecht' "
                                               "and leeftijd is not null"))
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))

    def q(p):
        pos = p * (n - 1)
        lo = math.floor(pos)
        return values[lo] + (pos - lo) * (values[min(lo + 1, n - 1)] - values[lo])

    h = 0.9 * min(sd, (q(0.75) - q(0.25)) / 1.34) * n ** -0.2
    assert len(row["kde_x"]) == len(row["kde_y"]) == 32
    assert row["kde_x"][0] == values[0] and row["kde_x"][-1] == values[-1]
    for x, y in zip(row["kde_x"], row["kde_y"]):
        expected = sum(math.exp(-0.5 * ((x - v) / h) ** 2) for v in values) / (n * h * math.sqrt(2 * math.pi))
        assert y == pytest.approx(expected, rel=1e-9)


def whole_years(start, ref):
    anniversary = (start.month, start.day)
    if anniversary == (2, 29) and not (ref.year % 4 == 0 and (ref.year % 100 != 0 or ref.year % 400 == 0)):
        anniversary = (3, 1)
    years = ref.year - start.year - (1 if (ref.month, ref.day) < anniversary else 0)
    return max(years, 0)


@pytest.mark.parametrize("year", [2023, 2026, 2029])
def test_alv_candidates(sample, year):
    rows = report(sample, "alv-candidates", "--year", str(year), "--as-of", "2026-01-07", "--region", "Oost")
    expected = {}
    for lidnummer, joined in duck(sample, "select lidnummer, ingangsdatum from m where status = 'Actief' "
                                          "and regio = 'Oost' and ingangsdatum is not null"):
        years = whole_years(joined, dt.date(year, 4, 1))
        if years >= 50:
            expected[lidnummer] = (years, "certificaat 50+")
        elif years >= 25 and years % 5 == 0:
            expected[lidnummer] = (years, f"certificaat {years}")
        elif years == 10:
            expected[lidnummer] = (years, "speld 10")
    assert {r["lidnummer"]: (r["jaren_op_alv"], r["onderscheiding"]) for r in rows} == expected
    assert len(expected) > 5
    assert [r["jaren_op_alv"] for r in rows] == sorted((r["jaren_op_alv"] for r in rows), reverse=True)
    assert {r["regio"] for r in rows} == {"Oost"}


@pytest.mark.parametrize("args, message", [
    (["--year", "2030"], "year 2030 is outside 2023..2029"),
    (["--year", "twintig"], "'twintig' is not a year"),
    ([], "needs a year"),
])
def test_alv_year_errors(sample, args, message):
    proc = run("report", "alv-candidates", "--lake", sample["lake"], "--as-of", "2026-01-07", *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr
