"""Anonymised datasets that stay anonymous against people who know each other: identifiers
gone; every released column but status is a quasi-identifier and the file is k-anonymous over
ALL of them together (checked by DuckDB on the file, not by trusting the summary), status
l-diverse per class, the caller's column choice, identifiers refused by name, deterministic
output, keyed pseudonyms; and GET /api/anonymised: roles, formats and the audit entry."""
import hashlib
import hmac
import io
import json
import os
import subprocess
import tomllib

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import BIN, ROOT, run
from server_support import serve

KEY = "a-long-secret-pseudonym-key-0123"
CHOSEN = ["regio", "leeftijd", "bouwjaar", "motortype", "jaren_lid", "wiewatwaar", "status"]


def registry():
    doc = tomllib.loads((ROOT / "config" / "fields.toml").read_text())
    return {f["name"]: f for f in doc["field"] + doc["calculated"]}


def policy():
    return tomllib.loads((ROOT / "config" / "anonymisation.toml").read_text())


def anonymise(sample, out, *extra, env=None):
    args = [BIN, "anonymise", "--lake", sample["lake"], "--out", out, "--json", *extra]
    return subprocess.run(list(map(str, args)), capture_output=True, text=True, env=env, timeout=300)


def quasi_columns(names):
    """Every column of a file but the sensitive ones and the pseudonym: what an acquaintance may know."""
    sensitive = {c["name"] for c in policy()["column"] if c["role"] == "sensitive"}
    return [n for n in names if n not in sensitive and n != "pseudonym"]


def class_sizes(source, names):
    """(smallest class, fewest distinct statuses in a class) over all quasi-identifier columns together."""
    quasi = ", ".join(f'"{q}"' for q in quasi_columns(names))
    status = "count(distinct status)" if "status" in names else "0"
    return duckdb.connect().execute(
        f"select min(n), min(d) from (select count(*) n, {status} d from {source} group by {quasi})").fetchone()


@pytest.mark.parametrize("k", [2, 5, 10])
@pytest.mark.parametrize("columns", [None, CHOSEN], ids=["default-columns", "chosen-columns"])
def test_every_class_over_all_released_quasi_identifiers_holds_k_rows(sample, tmp_path, k, columns):
    out = tmp_path / "anon.parquet"
    extra = ["--k", k] + (["--columns", ",".join(columns)] if columns else [])
    proc = anonymise(sample, out, *extra)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    names = pq.read_schema(out).names
    wanted = columns or policy()["defaults"]["columns"]
    assert set(names) <= set(wanted)
    assert sorted(summary["quasi_identifiers"]) == sorted(quasi_columns(names))
    assert len(summary["quasi_identifiers"]) >= 3  # the search generalised, it did not just leave columns out
    smallest, diverse = class_sizes(f"read_parquet('{out}')", names)
    assert smallest >= k and smallest == summary["smallest_class"]
    assert "status" in names and diverse >= 2 and summary["sensitive"] == {"status": "l-diverse (l = 2)"}
    assert summary["rows_out"] == pq.read_metadata(out).num_rows
    assert summary["rows_out"] + summary["suppressed"] == summary["rows_in"] == sample["manifest"]["members"]
    assert summary["suppressed"] <= 0.05 * summary["rows_in"]
    # The information lost, per column and in all.
    levels = {g["column"]: g for g in summary["generalisation"]}
    assert set(levels) == set(wanted)
    specs = {c["name"]: c for c in policy()["column"]}
    for name, g in levels.items():
        if g["role"] == "quasi":
            assert g["generalisation"] == specs[name]["levels"][g["level"]]
            assert (name in names) == (g["generalisation"] != "*") and 0 <= g["ncp"] <= 1
    loss = summary["information_loss"]
    assert 0 < loss["ncp"] < 1 and loss["discernibility"] >= summary["rows_out"] * k


def test_status_left_out_when_not_chosen_and_l_is_configurable(sample, tmp_path):
    out = tmp_path / "no-status.parquet"
    summary = json.loads(anonymise(sample, out, "--columns", "regio,leeftijd,geslacht").stdout)
    assert summary["sensitive"] == {"status": "left out"} and "status" not in pq.read_schema(out).names
    out3 = tmp_path / "l3.parquet"
    proc = anonymise(sample, out3, "--l", 3)
    assert proc.returncode == 0, proc.stderr
    names = pq.read_schema(out3).names
    assert class_sizes(f"read_parquet('{out3}')", names)[1] >= 3


def test_identifiers_are_gone_and_values_are_their_generalisation(sample, tmp_path):
    out = tmp_path / "anon.parquet"
    proc = anonymise(sample, out, "--pseudonym-key-env", "ML_PSEUDONYM_KEY", env=dict(os.environ, ML_PSEUDONYM_KEY=KEY))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    table = pq.read_table(out)
    fields = registry()
    for name in table.column_names:
        if name != "pseudonym":
            assert fields[name].get("sensitivity", "none") not in ("direct", "restricted"), name
    for name, spec in fields.items():
        if spec.get("sensitivity") in ("direct", "restricted"):
            assert name in summary["dropped"] and name not in table.column_names

    # Every published row traced back through its pseudonym: each value is its original's generalisation.
    full = [f for f in sample["manifest"]["files"] if f["kind"] == "full"][0]
    originals = {hmac.new(KEY.encode(), r["member_id"].encode(), hashlib.sha256).hexdigest()[:32]: r
                 for r in pq.read_table(sample["lake"] / full["path"]).to_pylist()}
    level = {g["column"]: g["generalisation"] for g in summary["generalisation"]}
    checked = 0
    for row in table.to_pylist()[:2000]:
        original = originals[row["pseudonym"]]
        for name, value in row.items():
            if name == "pseudonym" or value == "Overig":
                continue
            raw, how = original[name], level[name]
            if raw is None:
                assert value is None or how.startswith("parent:"), (name, value)
            elif how.startswith("band:"):
                width = int(how[5:])
                number = raw.year if hasattr(raw, "year") else raw
                low = number // width * width
                assert value == f"{low}-{low + width - 1}", (name, raw, value)
            elif how == "year":
                assert value == str(raw.year), (name, raw, value)
            elif how in ("value", "rare"):
                assert value == str(raw), (name, raw, value)
            elif how.startswith("parent:"):
                assert value == original[how[7:]], (name, raw, value)
            checked += 1
    assert checked > 2000
    # Nothing personal anywhere in the file.
    data = out.read_bytes()
    for original in list(originals.values())[:200]:
        assert original["member_id"].encode() not in data
        if original["email"]:
            assert original["email"].encode() not in data


def test_the_generalisation_is_deterministic(sample, tmp_path):
    first, again = tmp_path / "1.parquet", tmp_path / "2.parquet"
    one = json.loads(anonymise(sample, first, "--k", 5).stdout)
    two = json.loads(anonymise(sample, again, "--k", 5).stdout)
    assert one["generalisation"] == two["generalisation"]
    assert pq.read_table(first).equals(pq.read_table(again))


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
    (["--columns", "regio,email"], {}, "'email': an identifier"),
    (["--columns", "member_id"], {}, "'member_id': an identifier"),
    (["--columns", "bankrekeningnummer"], {}, "'bankrekeningnummer': restricted"),
    (["--columns", "regio,geboortedatum"], {}, "'geboortedatum': not released"),
    (["--columns", "nonsense"], {}, "'nonsense'"),
])
def test_bad_input_is_named(sample, tmp_path, extra, env_extra, message):
    out = tmp_path / "x.parquet"
    env = {k: v for k, v in os.environ.items() if k != "NOT_SET_ANYWHERE"}
    proc = anonymise(sample, out, *extra, env=dict(env, **env_extra))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not out.exists()


# --- GET /api/anonymised ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(tmp_path_factory):
    yield from serve(tmp_path_factory, members=3000, seed=23)


@pytest.mark.parametrize("groups", [["Members_Export", "Regio_Utrecht"], ["Members_Read", "Regio_All"],
                                    ["Members_CRUD", "Regio_Oost"], ["System_Logs_Read"], []])
def test_the_api_refuses_regional_and_non_export_roles(api, groups):
    response = api.get("/api/anonymised", api.keys.hs256(groups), params={"k": 5})
    assert response.status == 403, response.text
    assert b"PAR1" not in response.body


def test_the_api_gives_an_export_role_of_all_regions_the_file_and_audits_it(api, tmp_path):
    token = api.keys.hs256(["Members_Export", "Regio_All"])
    response = api.get("/api/anonymised", token, params={"k": 10, "columns": "regio,leeftijd,motormerk,bouwjaar,status"})
    assert response.status == 200, response.text
    assert response.headers["Content-Type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(response.body))
    summary = json.loads(response.headers["X-Memberlake-Anonymisation"])
    current = (api.lake / "manifests" / "CURRENT").read_text().strip()
    members = json.loads((api.lake / "manifests" / f"snapshot-{current}.json").read_text())["members"]
    assert summary["rows_in"] == members and table.num_rows == summary["rows_out"] > 0.9 * members
    (tmp_path / "api.parquet").write_bytes(response.body)
    smallest, diverse = class_sizes(f"read_parquet('{tmp_path / 'api.parquet'}')", table.column_names)
    assert smallest >= 10 and diverse >= 2

    as_json = api.get("/api/anonymised", token, params={"k": 5, "format": "json"}).json()
    assert as_json["summary"]["k"] == 5 and len(as_json["rows"]) == as_json["summary"]["rows_out"]
    csv = api.get("/api/anonymised", token, params={"format": "csv"})
    assert csv.status == 200 and csv.headers["Content-Type"].startswith("text/csv")

    refused = api.get("/api/anonymised", token, params={"columns": "regio,email"})
    assert refused.status == 400 and "email" in refused.json()["error"]["message"]

    auditor = api.keys.hs256(["System_Logs_Read"])
    entries = [e for e in api.get("/api/audit", auditor, params={"limit": 10000}).json()["entries"]
               if e["action"] == "anonymised.export"]
    ok = [e for e in entries if e["outcome"] == "ok" and "k=10" in e["detail"]]
    assert ok and ok[-1]["actor"] == "user-Members_Export-Regio_All" and ok[-1]["rows"] == table.num_rows
    assert "columns=regio,leeftijd,motormerk,bouwjaar,status" in ok[-1]["detail"]
    assert any(e["outcome"] == "denied" and e["actor"] == "user-Members_Export-Regio_Utrecht" for e in entries)


def test_a_policy_file_declares_the_hierarchies(sample, tmp_path):
    """The hierarchies are data: a policy whose only age level is 20-year bands yields those."""
    custom = tmp_path / "policy.toml"
    custom.write_text('[defaults]\nk = 5\ncolumns = ["leeftijd", "status"]\n'
                      '[[column]]\nname = "leeftijd"\nrole = "quasi"\nlevels = ["band:20", "*"]\n'
                      '[[column]]\nname = "status"\nrole = "sensitive"\n')
    out = tmp_path / "custom.parquet"
    proc = anonymise(sample, out, "--policy", custom)
    assert proc.returncode == 0, proc.stderr
    ages = set(pq.read_table(out, columns=["leeftijd"]).column(0).to_pylist()) - {None}
    assert ages and all(int(a.split("-")[1]) - int(a.split("-")[0]) == 19 for a in ages), ages
    bad = tmp_path / "bad.toml"
    bad.write_text(custom.read_text().replace('"leeftijd"', '"email"'))
    proc = anonymise(sample, tmp_path / "x.parquet", "--policy", bad)
    assert proc.returncode == 2 and "email" in proc.stderr, proc.stderr
