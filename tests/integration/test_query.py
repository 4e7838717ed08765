"""memberlake query: answers equal DuckDB's on the same files; scope and pruning hold."""
import json
import math

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import run, run_json


def full_path(sample):
    entry = [f for f in sample["manifest"]["files"] if f["kind"] == "full"][0]
    return sample["lake"] / entry["path"]


def query(sample, *args):
    return run_json("query", "--lake", sample["lake"], "--format", "json", "--explain", *args)


def duck(sample, sql):
    con = duckdb.connect()
    con.execute(f"create view m as select * from read_parquet('{full_path(sample)}')")
    return con.execute(sql).fetchall()


def normalise(value):
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


CASES = [
    # (memberlake args, equivalent DuckDB SQL); every result is ordered so rows compare 1:1
    (["--where", "regio=Utrecht", "--where", "leeftijd>=60", "--select", "member_id,leeftijd",
      "--order-by", "member_id"],
     "select member_id, leeftijd from m where regio = 'Utrecht' and leeftijd >= 60 order by member_id"),
    (["--where", "status=Actief", "--group-by", "regio,lidmaatschap", "--agg", "count",
      "--order-by", "regio", "--order-by", "lidmaatschap"],
     "select regio, lidmaatschap, count(*) from m where status = 'Actief' group by all order by 1, 2"),
    (["--group-by", "regio", "--agg", "avg(leeftijd)", "--agg", "min(geboortedatum)", "--agg", "max(jaren_lid)",
      "--agg", "count(motormerk)", "--order-by", "regio"],
     "select regio, avg(leeftijd), min(geboortedatum), max(jaren_lid), count(motormerk) from m group by 1 order by 1"),
    (["--where", "geboortedatum.month=9", "--where", "geboortedatum.day=26", "--select", "member_id,verjaardag",
      "--order-by", "member_id"],
     "select member_id, verjaardag from m where month(geboortedatum) = 9 and day(geboortedatum) = 26 order by 1"),
    (["--where", "achternaam^=Ja", "--where", "clubblad in Papier|Geen", "--agg", "count"],
     "select count(*) from m where starts_with(achternaam, 'Ja') and clubblad in ('Papier', 'Geen')"),
    (["--where", "motormerk is null", "--where", "status!=Actief", "--agg", "count"],
     "select count(*) from m where motormerk is null and status <> 'Actief'"),
    (["--where", "status=Actief", "--group-by", "regio", "--agg", "median(leeftijd)", "--agg",
      "quantile(jaren_lid,0.25)", "--agg", "quantile(leeftijd, 0.9)", "--order-by", "regio"],
     "select regio, quantile_cont(leeftijd, 0.5), quantile_cont(jaren_lid, 0.25), quantile_cont(leeftijd, 0.9) "
     "from m where status = 'Actief' group by 1 order by 1"),
    (["--where", "regio=Limburg", "--agg", "quantile(leeftijd,0.1)", "--agg", "count"],
     "select quantile_cont(leeftijd, 0.1), count(*) from m where regio = 'Limburg'"),
    # Counting on dictionary codes (the regional-stats path), with an optional enum key (nulls),
    # an in-filter on codes and a second, case-forgiven enum filter.
    (["--where", "regio in Utrecht|Limburg", "--where", "lidmaatschap=gewoon lid", "--group-by", "geslacht,clubblad",
      "--agg", "count", "--order-by", "geslacht", "--order-by", "clubblad"],
     "select geslacht, clubblad, count(*) from m where regio in ('Utrecht', 'Limburg') "
     "and lidmaatschap = 'Gewoon lid' group by all order by 1 nulls last, 2 nulls last"),
    # count(*) with enum filters grouped by a text column: the code filters run before Acero groups
    (["--where", "status=Actief", "--where", "clubblad in Papier|Digitaal", "--group-by", "woonplaats", "--agg", "count",
      "--order-by", "woonplaats"],
     "select woonplaats, count(*) from m where status = 'Actief' and clubblad in ('Papier', 'Digitaal') "
     "group by 1 order by 1"),
    # counted on codes while the scanner applies a plain filter
    (["--where", "leeftijd>=60", "--where", "status in Actief|Opgezegd", "--group-by", "regio", "--agg", "count",
      "--order-by", "regio"],
     "select regio, count(*) from m where leeftijd >= 60 and status in ('Actief', 'Opgezegd') group by 1 order by 1"),
    (["--where", "ingangsdatum<2000-01-01", "--select", "member_id,ingangsdatum", "--order-by", "ingangsdatum:desc",
      "--order-by", "member_id", "--limit", "25"],
     "select member_id, ingangsdatum from m where ingangsdatum < date '2000-01-01' order by 2 desc, 1 limit 25"),
]


def assert_equal_duckdb(sample, args, sql):
    """memberlake's rows for `args` equal DuckDB's for `sql`, one by one, and there are some."""
    ours = query(sample, *args)["rows"]
    theirs = duck(sample, sql)
    assert len(ours) == len(theirs) > 0
    for mine, row in zip(ours, theirs):
        assert [normalise(v) for v in mine.values()] == [normalise(v) for v in row]


@pytest.mark.parametrize("args, sql", CASES)
def test_answers_equal_duckdb(sample, args, sql):
    assert_equal_duckdb(sample, args, sql)


def test_regional_scope_never_leaves_its_regions(sample):
    result = query(sample, "--region", "Utrecht", "--region", "Oost", "--select", "regio")
    assert {r["regio"] for r in result["rows"]} == {"Utrecht", "Oost"}
    assert result["scope"] == "Oost,Utrecht"
    assert result["explain"]["files"] == 2  # only the scope's regional files are opened
    # a filter on another region finds nothing inside the scope
    other = query(sample, "--region", "Utrecht", "--where", "regio=Limburg", "--agg", "count")
    assert other["rows"] == [{"count": 0}]
    counts = query(sample, "--region", "Utrecht", "--group-by", "regio", "--agg", "count")["rows"]
    assert [r["regio"] for r in counts] == ["Utrecht"]


def test_selective_filter_prunes_row_groups(sample):
    explain = query(sample, "--where", "regio=Utrecht", "--agg", "count(leeftijd)")["explain"]
    assert explain["row_groups_total"] >= 10
    assert explain["row_groups_read"] == 1
    # counting the rows needs no row group: the footers prove the one kept holds only Utrecht
    assert query(sample, "--where", "regio=Utrecht", "--agg", "count")["explain"]["row_groups_read"] == 0
    empty = query(sample, "--where", "geboortedatum>=2030-01-01", "--agg", "count")
    assert empty["explain"]["row_groups_read"] == 0 and empty["rows"] == [{"count": 0}]


@pytest.mark.parametrize("args, message", [
    (["--select", "kleur"], "unknown column 'kleur'"),
    (["--where", "regio=Atlantis"], "regio: unknown value 'Atlantis'"),
    (["--region", "Atlantis"], "unknown region 'Atlantis'"),
    (["--where", "leeftijd>=oud"], "leeftijd: 'oud' is not a whole number"),
    (["--where", "geboortedatum=2023-02-29"], "'2023-02-29' is an impossible date"),
    (["--where", "geboortedatum.month=13"], "month 13 is out of range"),
    (["--where", "leeftijd~3"], "expected an operator"),
    (["--agg", "mode(leeftijd)"], "unknown function 'mode'"),
    (["--agg", "quantile(leeftijd,2)"], "q from 0 to 1"),
    (["--format", "xml"], "unknown format 'xml'"),
    # the operators of issue 12
    (["--where", "leeftijd between 50"], "expected 'col between low and high'"),
    (["--where", "leeftijd between 60 and 50"], "the low value is above the high one"),
    (["--where", "achternaam between a and b"], "between needs a number or date column"),
    (["--where", "geboortedatum between 1970-01-01 and 1970-02-30"], "impossible date"),
    (["--any", "kleur=rood"], "unknown column 'kleur'"),
    (["--any", "regio=Atlantis"], "regio: unknown value 'Atlantis'"),
    (["--agg", "sum(achternaam)"], "achternaam is not a number column"),
    (["--agg", "count(distinct )"], "expected count"),
    (["--group-by", "regio", "--agg", "count", "--having", "avg_leeftijd>3"],
     "having 'avg_leeftijd': not an aggregate of the query (count)"),
    (["--having", "count>3"], "having needs an aggregate"),
    (["--group-by", "regio", "--agg", "count", "--having", "count>veel"], "having 'count': 'veel' is not a int64"),
])
def test_bad_queries_name_the_problem(sample, args, message):
    proc = run("query", "--lake", sample["lake"], *args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_bloom_filters_prune_point_lookups(sample):
    email = duck(sample, "select email from m order by member_id limit 1")[0][0]
    hit = query(sample, "--where", f"email={email}", "--select", "email,regio")
    assert [r["email"] for r in hit["rows"]] == [email]
    assert hit["explain"]["row_groups_read"] == 1
    assert hit["explain"]["row_groups_pruned_by_bloom_filter"] == hit["explain"]["row_groups_total"] - 1
    miss = query(sample, "--where", "email=nobody@example.invalid", "--select", "email")
    assert miss["rows"] == []
    assert miss["explain"]["row_groups_read"] == 0
    assert miss["explain"]["pages_read"] == 0 < miss["explain"]["pages_total"]
    # integers have bloom filters too (lidnummer is a lookup column)
    number = duck(sample, "select lidnummer from m order by lidnummer desc limit 1")[0][0]
    by_number = query(sample, "--where", f"lidnummer={number}", "--select", "lidnummer")
    assert by_number["rows"] == [{"lidnummer": number}] and by_number["explain"]["row_groups_read"] == 1


def test_dictionary_pages_prune_absent_values(sample):
    result = query(sample, "--where", "woonplaats=Nergenshuizen", "--select", "lidnummer")
    explain = result["explain"]
    assert result["rows"] == []
    assert explain["row_groups_pruned_by_dictionary"] > 0
    assert explain["row_groups_read"] == 0
    # A present value is never pruned away: same answer as DuckDB on the same file.
    city = duckdb.sql(f"select woonplaats, count(*) from read_parquet('{full_path(sample)}') "
                      "group by 1 order by 2, 1 limit 1").fetchall()[0]
    present = query(sample, "--where", f"woonplaats={city[0]}", "--agg", "count")
    assert present["rows"] == [{"count": city[1]}]


def test_page_index_excludes_pages_of_selective_filters(tmp_path):
    # Pages hold at most 4096 rows: a lake large enough for several pages per column chunk.
    store = f"sqlite:{tmp_path / 'm.db'}"
    run("seed", "--store", store, "--members", 60000, "--seed", 12)
    summary = run_json("generate", "--store", store, "--lake", tmp_path / "lake", "--as-of", "2026-01-07", "--json")
    manifest = json.loads((tmp_path / "lake" / summary["manifest"]).read_text())
    full = next(tmp_path / "lake" / f["path"] for f in manifest["files"] if f["kind"] == "full")
    result = run_json("query", "--lake", tmp_path / "lake", "--format", "json", "--explain", "--where", "status=Club",
                      "--select", "lidnummer", "--order-by", "lidnummer")
    explain = result["explain"]
    assert explain["pages_excluded_by_page_index"] > 0
    expected = duckdb.sql(f"select lidnummer from read_parquet('{full}') where status='Club' order by lidnummer").fetchall()
    assert [r["lidnummer"] for r in result["rows"]] == [e[0] for e in expected]
    column = pq.ParquetFile(full).metadata.row_group(0).column(0)
    assert column.has_column_index and column.has_offset_index
