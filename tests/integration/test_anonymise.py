"""Anonymised datasets: identifiers gone, quasi-identifiers coarsened by the registry's rules,
k-anonymous (checked by DuckDB), stable keyed pseudonyms, and nothing personal in the file."""
import hashlib
import hmac
import json
import os
import tomllib

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, run

KEY = "a-long-secret-pseudonym-key-0123"


def registry():
    doc = tomllib.loads((ROOT / "config" / "fields.toml").read_text())
    return {f["name"]: f for f in doc["field"] + doc["calculated"]}


def anonymise(sample, out, *extra, env=None):
    args = ["anonymise", "--lake", sample["lake"], "--out", out, "--json", *extra]
    if env is None:
        return run(*args)
    import subprocess
    from conftest import BIN
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=env, timeout=300)


def test_identifiers_are_gone_and_the_rest_is_coarsened(sample, tmp_path):
    out = tmp_path / "anon.parquet"
    env = dict(os.environ, ML_PSEUDONYM_KEY=KEY)
    proc = anonymise(sample, out, "--pseudonym-key-env", "ML_PSEUDONYM_KEY", env=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    table = pq.read_table(out)
    fields = registry()
    for name in table.column_names:
        base = name.rsplit("_", 1)[0] if name.endswith(("_year", "_band", "_prefix")) else name
        if name == "pseudonym":
            continue
        assert fields[base].get("sensitivity", "none") not in ("direct", "restricted"), name
    for name, spec in fields.items():
        if spec.get("sensitivity") in ("direct", "restricted"):
            assert name in summary["dropped"] and name not in table.column_names
    assert summary["rows_out"] + summary["suppressed"] == summary["rows_in"] == sample["manifest"]["members"]
    assert summary["rows_out"] == table.num_rows > 0.9 * summary["rows_in"]

    # Every published row traced back through its pseudonym: the coarsened values are right.
    full = [f for f in sample["manifest"]["files"] if f["kind"] == "full"][0]
    originals = {hmac.new(KEY.encode(), r["member_id"].encode(), hashlib.sha256).hexdigest()[:32]: r
                 for r in pq.read_table(sample["lake"] / full["path"],
                                        columns=["member_id", "leeftijd", "ingangsdatum", "regio", "email"]).to_pylist()}
    rows = table.to_pylist()
    assert len({r["pseudonym"] for r in rows}) == len(rows)
    for row in rows[:2000]:
        original = originals[row["pseudonym"]]
        age = original["leeftijd"]
        assert row["leeftijd_band"] == (None if age is None else f"{age // 10 * 10}-{age // 10 * 10 + 9}")
        assert row["ingangsdatum_year"] == (original["ingangsdatum"].year if original["ingangsdatum"] else None)
        assert row["regio"] == original["regio"]
    # Nothing personal anywhere in the file.
    data = out.read_bytes()
    for original in list(originals.values())[:200]:
        assert original["member_id"].encode() not in data
        if original["email"]:
            assert original["email"].encode() not in data


def test_k_anonymity_holds(sample, tmp_path):
    for k in (5, 25):
        out = tmp_path / f"k{k}.parquet"
        summary = json.loads(anonymise(sample, out, "--k", k).stdout)
        quasi = ", ".join(f'"{q}"' for q in summary["quasi_identifiers"])
        assert quasi
        smallest = duckdb.connect().execute(
            f"select min(n) from (select count(*) n from read_parquet('{out}') group by {quasi})").fetchone()[0]
        assert smallest >= k
    assert json.loads(anonymise(sample, tmp_path / "a.parquet", "--k", 25).stdout)["suppressed"] >= \
        json.loads(anonymise(sample, tmp_path / "b.parquet", "--k", 5).stdout)["suppressed"]


def test_pseudonyms_are_stable_per_key(sample, tmp_path):
    def pseudonyms(key, name):
        out = tmp_path / name
        proc = anonymise(sample, out, "--pseudonym-key-env", "K", env=dict(os.environ, K=key))
        assert proc.returncode == 0, proc.stderr
        return pq.read_table(out, columns=["pseudonym"]).column(0).to_pylist()
    first, again = pseudonyms(KEY, "1.parquet"), pseudonyms(KEY, "2.parquet")
    other = pseudonyms("another-secret-key-of-enough-bytes", "3.parquet")
    assert first == again
    assert not set(first) & set(other)
    plain = tmp_path / "plain.parquet"
    anonymise(sample, plain)
    assert "pseudonym" not in pq.read_table(plain).column_names


@pytest.mark.parametrize("extra, env_extra, message", [
    (["--k", "1"], {}, "--k"),
    (["--format", "pdf"], {}, "--format"),
    (["--pseudonym-key-env", "NOT_SET_ANYWHERE"], {}, "NOT_SET_ANYWHERE"),
    (["--pseudonym-key-env", "K"], {"K": "short"}, "16 bytes"),
])
def test_bad_input_is_named(sample, tmp_path, extra, env_extra, message):
    out = tmp_path / "x.parquet"
    env = {k: v for k, v in os.environ.items() if k != "NOT_SET_ANYWHERE"}
    proc = anonymise(sample, out, *extra, env=dict(env, **env_extra))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not out.exists()
