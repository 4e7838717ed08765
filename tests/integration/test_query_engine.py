"""Query engine operators (issue 12) against DuckDB on the same snapshot file: OR groups,
between, sum, count(distinct), having, top-N with ties, quantiles; nulls, ties, empty groups
and a regional scope."""
import pytest

from conftest import run
from test_query import assert_equal_duckdb, query

REGIONS = "regio in ('Utrecht', 'Oost')"

CASES = [
    # between, numbers and dates (both ends included)
    (["--where", "leeftijd between 40 and 45", "--select", "member_id,leeftijd", "--order-by", "member_id"],
     "select member_id, leeftijd from m where leeftijd between 40 and 45 order by member_id"),
    (["--where", "geboortedatum between 1970-01-01 and 1974-12-31", "--group-by", "regio", "--agg", "count",
      "--order-by", "regio"],
     "select regio, count(*) from m where geboortedatum between date '1970-01-01' and date '1974-12-31' "
     "group by 1 order by 1"),
    # OR groups: enums, ranges and nulls mixed, ANDed with where filters
    (["--any", "regio=Limburg", "--any", "leeftijd>=75", "--group-by", "regio", "--agg", "count", "--order-by", "regio"],
     "select regio, count(*) from m where regio = 'Limburg' or leeftijd >= 75 group by 1 order by 1"),
    (["--where", "status=Actief", "--any", "motormerk is null", "--any", "clubblad=papier", "--agg", "count"],
     "select count(*) from m where status = 'Actief' and (motormerk is null or clubblad = 'Papier')"),
    (["--any", "email=nobody@example.invalid", "--any", "achternaam^=Ja", "--select", "member_id,achternaam",
      "--order-by", "member_id"],
     "select member_id, achternaam from m where email = 'nobody@example.invalid' or starts_with(achternaam, 'Ja') "
     "order by 1"),
    # a text group key (read as the files' dictionaries) filtered on, in where and in the OR group
    (["--where", "woonplaats^=B", "--any", "woonplaats^=Bre", "--any", "woonplaats in Utrecht|Bergen", "--any",
      "regio=Limburg", "--group-by", "woonplaats", "--agg", "count", "--order-by", "woonplaats"],
     "select woonplaats, count(*) from m where starts_with(woonplaats, 'B') and (starts_with(woonplaats, 'Bre') "
     "or woonplaats in ('Utrecht', 'Bergen') or regio = 'Limburg') group by 1 order by 1"),
    # count(distinct) of text on codes next to one Acero must do (a number key, dates)
    (["--where", "status=Actief", "--group-by", "leeftijd", "--agg", "count(distinct woonplaats)", "--agg",
      "count(distinct bouwjaar)", "--agg", "min(ingangsdatum)", "--order-by", "leeftijd"],
     "select leeftijd, count(distinct woonplaats), count(distinct bouwjaar), min(ingangsdatum) from m "
     "where status = 'Actief' group by 1 order by 1 nulls last"),
    (["--region", "Oost", "--where", "lidmaatschap=gewoon lid", "--group-by", "geslacht", "--agg",
      "count(distinct woonplaats)", "--agg", "count(distinct motormerk)", "--agg", "count", "--order-by", "geslacht"],
     "select geslacht, count(distinct woonplaats), count(distinct motormerk), count(*) from m "
     "where regio = 'Oost' and lidmaatschap = 'Gewoon lid' group by 1 order by 1 nulls last"),
    # sum and count(distinct), with nulls (motormerk) and groups of one value
    (["--group-by", "regio", "--agg", "sum(jaren_lid)", "--agg", "count(distinct woonplaats)", "--agg",
      "count(distinct motormerk)", "--agg", "sum(bouwjaar)", "--order-by", "regio"],
     "select regio, sum(jaren_lid), count(distinct woonplaats), count(distinct motormerk), sum(bouwjaar) "
     "from m group by 1 order by 1"),
    (["--where", "motormerk is null", "--group-by", "geslacht", "--agg", "sum(bouwjaar)", "--agg", "avg(bouwjaar)",
      "--agg", "count", "--order-by", "geslacht"],  # empty groups: every bouwjaar null
     "select geslacht, sum(bouwjaar), avg(bouwjaar), count(*) from m where motormerk is null group by 1 "
     "order by 1 nulls last"),
    # having on an aggregate; ties in the order broken by the group key
    (["--group-by", "woonplaats", "--agg", "count", "--having", "count>=300", "--order-by", "count:desc"],
     "select woonplaats, count(*) as c from m group by 1 having count(*) >= 300 order by c desc, woonplaats"),
    (["--group-by", "regio,geslacht", "--agg", "avg(leeftijd)", "--agg", "count", "--having",
      "avg_leeftijd between 50 and 60", "--having", "count>100", "--order-by", "regio", "--order-by", "geslacht"],
     "select regio, geslacht, avg(leeftijd), count(*) from m group by 1, 2 "
     "having avg(leeftijd) between 50 and 60 and count(*) > 100 order by 1, 2 nulls last"),
    # top-N: many ties on the first key, broken by the second key, then member_id
    (["--select", "member_id,jaren_lid", "--order-by", "jaren_lid:desc", "--limit", "15"],
     "select member_id, jaren_lid from m order by jaren_lid desc, member_id limit 15"),
    (["--select", "member_id,leeftijd,achternaam", "--order-by", "leeftijd", "--order-by", "achternaam:desc",
      "--limit", "20"],
     "select member_id, leeftijd, achternaam from m order by leeftijd, achternaam desc, member_id limit 20"),
    (["--select", "korte_naam,status,geboortedatum", "--order-by", "status:desc", "--order-by", "geboortedatum",
      "--limit", "12"],
     "select korte_naam, status, geboortedatum from m order by status desc, geboortedatum, member_id limit 12"),
    (["--select", "member_id,motormerk", "--order-by", "motormerk:desc", "--limit", "10"],  # nulls last
     "select member_id, motormerk from m order by motormerk desc nulls last, member_id limit 10"),
    (["--where", "status=Actief", "--any", "regio=Limburg", "--any", "leeftijd<25", "--select",
      "member_id,regio,ingangsdatum", "--order-by", "ingangsdatum", "--limit", "25"],
     "select member_id, regio, ingangsdatum from m where status = 'Actief' and (regio = 'Limburg' or leeftijd < 25) "
     "order by ingangsdatum, member_id limit 25"),
    # quantiles at 0, 0.5, 0.9 and 1 per group, with an all-null (empty) group
    (["--group-by", "regio", "--agg", "quantile(leeftijd,0)", "--agg", "median(leeftijd)", "--agg",
      "quantile(jaren_lid,0.9)", "--agg", "quantile(jaren_lid,1)", "--order-by", "regio"],
     "select regio, quantile_cont(leeftijd, 0), quantile_cont(leeftijd, 0.5), quantile_cont(jaren_lid, 0.9), "
     "quantile_cont(jaren_lid, 1) from m group by 1 order by 1"),
    (["--where", "motormerk is null", "--group-by", "geslacht", "--agg", "quantile(bouwjaar,0.9)", "--agg",
      "median(leeftijd)", "--order-by", "geslacht"],
     "select geslacht, quantile_cont(bouwjaar, 0.9), quantile_cont(leeftijd, 0.5) from m where motormerk is null "
     "group by 1 order by 1 nulls last"),
    (["--agg", "quantile(leeftijd,0.9)", "--agg", "sum(leeftijd)", "--agg", "count(distinct regio)"],
     "select quantile_cont(leeftijd, 0.9), sum(leeftijd), count(distinct regio) from m"),
    # a regional scope: every operator stays inside it
    (["--region", "Utrecht", "--region", "Oost", "--any", "regio=Limburg", "--any", "leeftijd>=0", "--group-by", "regio",
      "--agg", "count", "--order-by", "regio"],
     f"select regio, count(*) from m where {REGIONS} and (regio = 'Limburg' or leeftijd >= 0) group by 1 order by 1"),
    (["--region", "Utrecht", "--region", "Oost", "--select", "member_id,regio,geboortedatum", "--order-by",
      "geboortedatum", "--limit", "10"],
     f"select member_id, regio, geboortedatum from m where {REGIONS} order by geboortedatum, member_id limit 10"),
    (["--region", "Oost", "--group-by", "woonplaats", "--agg", "count(distinct postcode)", "--agg", "sum(leeftijd)",
      "--having", "count_distinct_postcode>5", "--order-by", "woonplaats"],
     "select woonplaats, count(distinct postcode), sum(leeftijd) from m where regio = 'Oost' group by 1 "
     "having count(distinct postcode) > 5 order by 1"),
]


@pytest.mark.parametrize("args, sql", CASES)
def test_operators_equal_duckdb(sample, args, sql):
    assert_equal_duckdb(sample, args, sql)


def test_an_or_never_widens_a_regional_scope(sample):
    result = query(sample, "--region", "Utrecht", "--any", "regio=Limburg", "--any", "regio=Oost",
                   "--select", "regio")
    assert result["rows"] == []
    wide = query(sample, "--region", "Utrecht", "--any", "regio=Limburg", "--any", "status=Actief",
                 "--group-by", "regio", "--agg", "count")["rows"]
    assert [r["regio"] for r in wide] == ["Utrecht"]
    top = query(sample, "--region", "Utrecht", "--any", "regio=Limburg", "--any", "leeftijd>=0",
                "--select", "regio", "--order-by", "leeftijd", "--limit", "50")["rows"]
    assert len(top) == 50 and {r["regio"] for r in top} == {"Utrecht"}


def test_or_group_prunes_row_groups_on_enum_statistics(sample):
    explain = query(sample, "--any", "regio=Utrecht", "--any", "regio=Limburg", "--agg", "count")["explain"]
    assert explain["row_groups_read"] == 2 < explain["row_groups_total"]
    # an alternative whose statistics admit every row group keeps them all
    explain = query(sample, "--any", "regio=Utrecht", "--any", "leeftijd>=0", "--agg", "count")["explain"]
    assert explain["row_groups_read"] == explain["row_groups_total"]
    # each alternative is judged by its own statistics: the enum's, and min/max of a number that
    # no row reaches; together they leave only the region's row groups
    args = ["--any", "regio=Limburg", "--any", "leeftijd>=200", "--group-by", "regio", "--agg", "count"]
    answer = query(sample, *args)
    assert answer["explain"]["row_groups_read"] == 1 < answer["explain"]["row_groups_total"]
    assert_equal_duckdb(sample, args, "select regio, count(*) from m where regio = 'Limburg' or leeftijd >= 200 "
                                      "group by 1")


def test_top_n_skips_row_groups_that_cannot_enter(sample):
    # Each region's row group proves all its rows are Actief-or-not only via statistics of
    # regio; with a regio filter the scope's single row group is read, never more.
    explain = query(sample, "--where", "regio=Utrecht", "--select", "member_id", "--order-by", "lidnummer",
                    "--limit", "5")["explain"]
    assert explain["row_groups_read"] == 1
    assert explain["rows_read"] > 5


# ---- over the HTTP API: the same operators, the caller's regions enforced for each of them

@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from server_support import serve
    yield from serve(tmp_path_factory, members=3000, seed=21)


def api_duck(api, sql):
    import duckdb
    manifest = __import__("json").loads(
        (api.lake / "manifests" / f"snapshot-{(api.lake / 'manifests' / 'CURRENT').read_text().strip()}.json").read_text())
    full = api.lake / [f for f in manifest["files"] if f["kind"] == "full"][0]["path"]
    con = duckdb.connect()
    con.execute(f"create view m as select * from read_parquet('{full}')")
    return con.execute(sql).fetchall()


def test_api_operators_equal_duckdb(api):
    token = api.keys.hs256(["Members_Read", "Regio_All"])
    got = api.get("/api/query", token, params=[("any", "regio=Limburg"), ("any", "leeftijd between 80 and 90"),
                                               ("group_by", "regio"), ("agg", "count"), ("agg", "sum(jaren_lid)"),
                                               ("agg", "count(distinct woonplaats)"), ("having", "count>=3"),
                                               ("order_by", "regio")])
    assert got.status == 200, got.text
    expected = api_duck(api, "select regio, count(*), sum(jaren_lid), count(distinct woonplaats) from m "
                             "where regio = 'Limburg' or leeftijd between 80 and 90 group by 1 having count(*) >= 3 "
                             "order by 1")
    assert [list(r.values()) for r in got.json()["rows"]] == [list(r) for r in expected] and expected
    # top-N over the API: the page of an order + limit, the total counted apart
    top = api.get("/api/query", token, params={"select": "member_id,jaren_lid", "order_by": "jaren_lid:desc",
                                               "limit": "7", "offset": "3"}).json()
    expected = api_duck(api, "select member_id, jaren_lid from m order by jaren_lid desc, member_id limit 7 offset 3")
    assert [list(r.values()) for r in top["rows"]] == [list(r) for r in expected]
    assert top["total"] == api_duck(api, "select count(*) from m")[0][0]


def test_api_or_cannot_widen_a_regional_callers_scope(api):
    utrecht = api.keys.hs256(["Members_Read", "Regio_Utrecht"])
    rows = api.get("/api/query", utrecht, params=[("any", "regio=Limburg"), ("any", "leeftijd>=0"),
                                                  ("group_by", "regio"), ("agg", "count")]).json()["rows"]
    assert [r["regio"] for r in rows] == ["Utrecht"]
    only_other = api.get("/api/query", utrecht, params=[("any", "regio=Limburg"), ("any", "regio=Oost"),
                                                        ("select", "regio")]).json()
    assert only_other["rows"] == [] and only_other["total"] == 0
    top = api.get("/api/query", utrecht, params=[("any", "regio=Limburg"), ("any", "status=Actief"),
                                                 ("select", "regio"), ("order_by", "leeftijd"), ("limit", "30")]).json()
    assert top["rows"] and {r["regio"] for r in top["rows"]} == {"Utrecht"}
    # asking for another region outright is refused, as before
    assert api.get("/api/query", utrecht, params={"region": "Limburg", "agg": "count"}).status == 403


def test_api_errors_name_the_problem(api):
    token = api.keys.hs256(["Members_Read", "Regio_All"])
    bad = api.get("/api/query", token, params=[("group_by", "regio"), ("agg", "count"), ("having", "avg_x>1")])
    assert bad.status == 400 and "not an aggregate of the query" in bad.text
    bad = api.get("/api/query", token, params=[("where", "leeftijd between 9 and 1")])
    assert bad.status == 400 and "the low value is above the high one" in bad.text


# ---- hybrid reads: the snapshot plus the live store's changes, through the new operators

@pytest.fixture(scope="module")
def changed(tmp_path_factory):
    import json
    from conftest import AS_OF, run_json
    base = tmp_path_factory.mktemp("hybrid-engine")
    store = f"sqlite:{base / 'm.db'}"
    run("seed", "--store", store, "--members", 1500, "--seed", 4)
    run("generate", "--store", store, "--lake", base / "before", "--as-of", AS_OF)
    oldest = {"voornaam": "Oud", "achternaam": "Lid", "email": "oud@example.nl", "status": "Actief",
              "lidmaatschap": "Gewoon lid", "regio": "Utrecht", "geboortedatum": "1930-01-01",
              "ingangsdatum": "1960-06-01", "clubblad": "Digitaal"}
    run_json("members", "add", "--store", store, "--json", json.dumps(oldest))
    member = run_json("members", "list", "--store", store, "--limit", 5)[0]
    run("members", "update", "--store", store, member["member_id"], "--expected-version", member["_version"],
        "--json", '{"geboortedatum": "1931-02-03", "regio": "Oost"}')
    run("generate", "--store", store, "--lake", base / "after", "--as-of", AS_OF)
    return {"store": store, "before": base / "before", "after": base / "after"}


@pytest.mark.parametrize("args", [
    ["--select", "member_id,korte_naam,geboortedatum,regio", "--order-by", "geboortedatum", "--limit", "5"],
    ["--region", "Oost", "--select", "member_id,geboortedatum", "--order-by", "geboortedatum", "--limit", "3"],
    ["--any", "regio=Oost", "--any", "leeftijd>=90", "--group-by", "regio", "--agg", "count", "--agg",
     "median(leeftijd)", "--having", "count>=1", "--order-by", "regio"],
])
def test_hybrid_operators_equal_a_fresh_snapshot(changed, args):
    from conftest import run_json
    hybrid = run_json("query", "--lake", changed["before"], "--store", changed["store"], "--format", "json", *args)
    fresh = run_json("query", "--lake", changed["after"], "--snapshot-only", "--format", "json", *args)
    assert hybrid["source"] == "hybrid" and hybrid["live_rows"] > 0
    assert hybrid["rows"] == fresh["rows"] and fresh["rows"]


def test_api_or_group_cannot_reach_restricted_fields(api):
    # Members_Read may not see restricted fields (bank account): not through an OR filter either
    reader = api.keys.hs256(["Members_Read", "Regio_All"])
    probe = [("any", "bankrekeningnummer^=NL"), ("any", "regio=Limburg"), ("agg", "count")]
    assert api.get("/api/query", reader, params=probe).status == 403
    crud = api.keys.hs256(["Members_CRUD", "Regio_All"])
    assert api.get("/api/query", crud, params=probe).status == 200
