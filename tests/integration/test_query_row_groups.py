"""The query engine's late paths on a lake of several row groups (32,768 rows each) and many
pages (4,096 rows), against DuckDB on the same file: top-N by late materialisation (the key
first, then only the winners' pages), prefix filters on dictionary codes with row-group
pruning, and counting under a mask; with ties, nulls and a regional scope."""
import json

import duckdb
import pytest

from conftest import AS_OF, run, run_json
from test_query import assert_equal_duckdb as assert_same, duck, query as ours

ROW_GROUP_ROWS = 32 * 1024
REGIONS = "regio in ('Utrecht', 'Oost')"


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    base = tmp_path_factory.mktemp("row-groups")
    store = f"sqlite:{base / 'm.db'}"
    run("seed", "--store", store, "--members", 80000, "--seed", 33)
    summary = run_json("generate", "--store", store, "--lake", base / "lake", "--as-of", AS_OF, "--json")
    manifest = json.loads((base / "lake" / summary["manifest"]).read_text())
    return {"lake": base / "lake", "manifest": manifest}


TOP_N = [
    # (args, order and filter in SQL, limit): the winners must lie in several row groups
    (["--select", "member_id,korte_naam,geboortedatum,regio", "--order-by", "geboortedatum"],
     "true", "geboortedatum, member_id", 40),
    # many ties on the first key (more than k): broken by the second key, then member_id
    (["--select", "member_id,leeftijd,achternaam", "--order-by", "leeftijd", "--order-by", "achternaam:desc"],
     "true", "leeftijd, achternaam desc, member_id", 30),
    (["--select", "member_id,jaren_lid,email", "--order-by", "jaren_lid:desc"],
     "true", "jaren_lid desc, member_id", 25),
    # nulls come last in either direction; a filter that leaves only null keys
    (["--select", "member_id,bouwjaar,motormerk", "--order-by", "bouwjaar:desc"],
     "true", "bouwjaar desc nulls last, member_id", 20),
    (["--where", "motormerk is null", "--select", "member_id,bouwjaar", "--order-by", "bouwjaar"],
     "motormerk is null", "bouwjaar nulls last, member_id", 15),
    # a regional scope, a code filter, an OR group, a prefix
    (["--region", "Utrecht", "--region", "Oost", "--select", "member_id,regio,ingangsdatum",
      "--order-by", "ingangsdatum:desc"], REGIONS, "ingangsdatum desc, member_id", 35),
    (["--where", "status=Actief", "--any", "regio=Limburg", "--any", "leeftijd<25", "--select",
      "member_id,regio,leeftijd,geboortedatum", "--order-by", "geboortedatum:desc"],
     "status = 'Actief' and (regio = 'Limburg' or leeftijd < 25)", "geboortedatum desc, member_id", 50),
    (["--where", "achternaam^=Jan", "--select", "member_id,achternaam,lidnummer", "--order-by", "lidnummer"],
     "starts_with(achternaam, 'Jan')", "lidnummer, member_id", 12),
]


@pytest.mark.parametrize("args, where, order, limit", TOP_N)
def test_top_n_equals_duckdb_across_row_groups(lake, args, where, order, limit):
    columns = next(args[i + 1] for i, a in enumerate(args) if a == "--select")
    sql = f"select {columns} from m where {where} order by {order} limit {limit}"
    assert_same(lake, [*args, "--limit", str(limit)], sql)


def test_the_oldest_members_lie_in_several_row_groups(lake):
    # the property the late path depends on being exercised: winners spread over row groups
    full = lake["lake"] / next(f["path"] for f in lake["manifest"]["files"] if f["kind"] == "full")
    groups = duckdb.sql(f"select count(distinct file_row_number // {ROW_GROUP_ROWS}) from "
                        f"(select file_row_number from read_parquet('{full}', file_row_number = true) "
                        f"order by geboortedatum, member_id limit 40)").fetchall()[0][0]
    assert groups >= 2
    assert ours(lake, "--agg", "count")["explain"]["row_groups_total"] >= 3


AGGREGATES = [
    # prefix filters on dictionary codes, in where and in an OR group, counted under a mask
    (["--where", "achternaam^=Jans", "--agg", "count"], "select count(*) from m where starts_with(achternaam, 'Jans')"),
    (["--where", "woonplaats^=B", "--group-by", "regio", "--agg", "count", "--agg", "avg(leeftijd)",
      "--order-by", "regio"],
     "select regio, count(*), avg(leeftijd) from m where starts_with(woonplaats, 'B') group by 1 order by 1"),
    (["--any", "achternaam^=Ba", "--any", "leeftijd>=85", "--any", "regio=Limburg", "--group-by", "status",
      "--agg", "count", "--order-by", "status"],
     "select status, count(*) from m where starts_with(achternaam, 'Ba') or leeftijd >= 85 or regio = 'Limburg' "
     "group by 1 order by 1"),
    (["--where", "lidmaatschap^=Gew", "--where", "geboortedatum between 1960-01-01 and 1969-12-31", "--group-by",
      "regio,geslacht", "--agg", "count", "--agg", "sum(jaren_lid)", "--order-by", "regio", "--order-by", "geslacht"],
     "select regio, geslacht, count(*), sum(jaren_lid) from m where starts_with(lidmaatschap, 'Gew') and "
     "geboortedatum between date '1960-01-01' and date '1969-12-31' group by 1, 2 order by 1, 2 nulls last"),
    # a regional scope and a null test under the mask; quantiles take the Acero path after it
    (["--region", "Oost", "--where", "motormerk is null", "--group-by", "geslacht", "--agg", "count", "--agg",
      "median(leeftijd)", "--order-by", "geslacht"],
     "select geslacht, count(*), quantile_cont(leeftijd, 0.5) from m where regio = 'Oost' and motormerk is null "
     "group by 1 order by 1 nulls last"),
    (["--where", "achternaam^=Zzzz", "--agg", "count"], "select count(*) from m where starts_with(achternaam, 'Zzzz')"),
    # a range on a column with nulls under the mask: the verdicts' validity bits are read too
    (["--where", "bouwjaar>=1990", "--where", "achternaam^=B", "--group-by", "regio", "--agg", "count",
      "--order-by", "regio"],
     "select regio, count(*) from m where bouwjaar >= 1990 and starts_with(achternaam, 'B') group by 1 order by 1"),
]


@pytest.mark.parametrize("args, sql", AGGREGATES)
def test_masked_counts_equal_duckdb(lake, args, sql):
    assert_same(lake, args, sql)


# Grouped aggregates on codes over several row groups (several batches): each core tallies its
# own batches into its own cells, merged at the end (sums, minima, maxima, quantiles' values,
# distinct codes, counts of a column with nulls).
TALLIED = [
    (["--group-by", "status", "--agg", "count", "--agg", "count(bouwjaar)", "--agg", "sum(jaren_lid)", "--agg",
      "min(leeftijd)", "--agg", "max(leeftijd)", "--agg", "avg(bouwjaar)", "--order-by", "status"],
     "select status, count(*), count(bouwjaar), sum(jaren_lid), min(leeftijd), max(leeftijd), avg(bouwjaar) "
     "from m group by 1 order by 1"),
    (["--where", "status=Actief", "--group-by", "geslacht", "--agg", "quantile(lidnummer,0.9)", "--agg",
      "median(bouwjaar)", "--agg", "count(distinct woonplaats)", "--order-by", "geslacht"],
     "select geslacht, quantile_cont(lidnummer, 0.9), quantile_cont(bouwjaar, 0.5), count(distinct woonplaats) "
     "from m where status = 'Actief' group by 1 order by 1 nulls last"),
    # lidnummer is unique: any subset's quantiles differ from the whole's
    (["--agg", "min(bouwjaar)", "--agg", "max(bouwjaar)", "--agg", "quantile(leeftijd,0)", "--agg",
      "quantile(leeftijd,1)", "--agg", "quantile(lidnummer,0.37)", "--agg", "median(lidnummer)"],
     "select min(bouwjaar), max(bouwjaar), quantile_cont(leeftijd, 0), quantile_cont(leeftijd, 1), "
     "quantile_cont(lidnummer, 0.37), quantile_cont(lidnummer, 0.5) from m"),
]


@pytest.mark.parametrize("args, sql", TALLIED)
def test_aggregates_tallied_on_both_cores_equal_duckdb(lake, args, sql):
    assert ours(lake, "--agg", "count")["explain"]["row_groups_total"] >= 3
    assert_same(lake, args, sql)


def test_prefix_prunes_row_groups_on_statistics(lake):
    # the lake is sorted by region: a prefix of a region's name rules out the other row groups
    explain = ours(lake, "--where", "regio^=Utr", "--agg", "count")
    expected = duck(lake, "select count(*) from m where starts_with(regio, 'Utr')")[0][0]
    assert explain["rows"] == [{"count": expected}] and expected > 0
    assert explain["explain"]["row_groups_pruned_by_statistics"] > 0
    # nothing starts with the prefix: every row group pruned, nothing read
    empty = ours(lake, "--where", "regio^=Zz", "--agg", "count")
    assert empty["rows"] == [{"count": 0}] and empty["explain"]["row_groups_read"] == 0


@pytest.mark.parametrize("args", [
    ["--select", "member_id,korte_naam"],
    ["--where", "leeftijd>=70", "--where", "achternaam^=B", "--select", "member_id,leeftijd"],
    ["--region", "Oost", "--any", "status=Club", "--any", "leeftijd<20", "--select", "member_id,status"],
    # filters on codes only: the first rows are read a step at a time, and the filter drops
    # rows within and between the steps (an enum, a prefix, two regions' files and an enum)
    ["--where", "status=Actief", "--select", "member_id,status,regio"],
    ["--where", "achternaam^=Jan", "--select", "member_id,achternaam"],
    ["--region", "Utrecht", "--region", "Oost", "--where", "status=Opgezegd", "--select", "member_id,regio,status"],
    # filters most rows pass: judged row group by row group until the limit is reached
    ["--where", "leeftijd>=50", "--select", "member_id,leeftijd"],
    ["--region", "Oost", "--any", "leeftijd>=60", "--any", "status=Opgezegd", "--select", "member_id,leeftijd,status"],
])
def test_unordered_limit_stops_the_scan_with_the_first_rows(lake, args):
    # rows without an order are the first ones in file order: a limit cuts the full answer
    full = ours(lake, *args)
    for limit in [1, 7, 5000, 40000]:
        cut = ours(lake, *args, "--limit", str(limit))
        assert cut["rows"] == full["rows"][:limit] and cut["rows"]
    # the scan stopped early: fewer rows read than pass the filters (a region's file is one
    # row group, read as one batch)
    read = ours(lake, *args, "--limit", "7")["explain"]["rows_read"]
    assert read < full["explain"]["rows_read"] if "--region" not in args else read <= full["explain"]["rows_read"]


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory):
    """Few members, so every region's row group is small: a top-N takes some row groups' winners
    from their pages alone and reads others whole, and the two must join as one table."""
    base = tmp_path_factory.mktemp("small-row-groups")
    store = f"sqlite:{base / 'm.db'}"
    run("seed", "--store", store, "--members", 400, "--seed", 8)
    summary = run_json("generate", "--store", store, "--lake", base / "lake", "--as-of", AS_OF, "--json")
    return {"lake": base / "lake", "manifest": json.loads((base / "lake" / summary["manifest"]).read_text())}


@pytest.mark.parametrize("limit", [1, 7, 50, 120])
def test_top_n_of_every_column_mixes_page_reads_and_whole_row_groups(small_lake, limit):
    rows = ours(small_lake, "--order-by", "lidnummer", "--limit", str(limit))["rows"]
    theirs = duck(small_lake, f"select member_id, lidnummer from m order by lidnummer nulls last, member_id limit {limit}")
    assert [(r["member_id"], r["lidnummer"]) for r in rows] == theirs
    assert list(rows[0]) == list(ours(small_lake, "--limit", "1")["rows"][0])  # every column, as a plain scan's


FILTERED = [
    # selective filters: the filter's columns first, then the passing rows from their pages
    # (an order key not selected comes last, as in every ordered answer)
    # (nullable text, enums as text, dates), or their row groups read whole and taken
    (["--where", "geboortedatum.month=9", "--where", "status=Actief", "--select",
      "member_id,korte_naam,tussenvoegsel,email,regio,status,geboortedatum,postcode", "--order-by", "lidnummer"],
     "select member_id, korte_naam, tussenvoegsel, email, regio, status, geboortedatum, postcode, lidnummer from m "
     "where month(geboortedatum) = 9 and status = 'Actief' order by lidnummer nulls last, member_id"),
    (["--where", "leeftijd>=70", "--select", "member_id,achternaam,motormerk,bouwjaar,leeftijd",
      "--order-by", "member_id"],
     "select member_id, achternaam, motormerk, bouwjaar, leeftijd from m where leeftijd >= 70 order by member_id"),
    (["--region", "Oost", "--any", "motormerk=Indian", "--any", "leeftijd<27", "--select",
      "member_id,woonplaats,motormerk,leeftijd,ingangsdatum", "--order-by", "member_id"],
     "select member_id, woonplaats, motormerk, leeftijd, ingangsdatum from m where regio = 'Oost' and "
     "(motormerk = 'Indian' or leeftijd < 27) order by member_id"),
    (["--where", "achternaam^=Jans", "--where", "email is null", "--select", "member_id,achternaam,email,telefoon",
      "--order-by", "member_id"],
     "select member_id, achternaam, email, telefoon from m where starts_with(achternaam, 'Jans') and email is null "
     "order by member_id"),
    # most rows pass: scanned whole instead (both cores), the same answer
    (["--where", "leeftijd>=30", "--select", "member_id,korte_naam,regio", "--order-by", "member_id"],
     "select member_id, korte_naam, regio from m where leeftijd >= 30 order by member_id"),
]


@pytest.mark.parametrize("args, sql", FILTERED)
def test_filtered_rows_read_late_equal_duckdb(lake, args, sql):
    assert_same(lake, args, sql)
    assert ours(lake, *args)["explain"]["rows_read"] == len(duck(lake, sql))


def test_a_filter_nothing_passes_gives_the_columns_and_no_rows(lake):
    empty = ours(lake, "--where", "geboortedatum.month=9", "--where", "leeftijd>=200", "--select",
                 "member_id,korte_naam,regio")
    assert empty["rows"] == [] and empty["explain"]["rows_read"] == 0


@pytest.mark.parametrize("args, where, from_footers", [
    ([], "true", True),
    (["--region", "Utrecht"], "regio = 'Utrecht'", True),
    (["--region", "Utrecht", "--region", "Oost"], REGIONS, True),
    # the full dataset's row groups are cut where the region changes: each holds one region
    (["--where", "regio=Limburg"], "regio = 'Limburg'", True),
    # statuses share row groups: those are read
    (["--where", "status=Actief"], "status = 'Actief'", False),
    (["--region", "Oost", "--where", "status=Opgezegd", "--where", "lidmaatschap=Gewoon lid"],
     "regio = 'Oost' and status = 'Opgezegd' and lidmaatschap = 'Gewoon lid'", False),
])
def test_counts_equal_duckdb_and_come_from_the_footers_where_they_prove_them(lake, args, where, from_footers):
    result = ours(lake, *args, "--agg", "count")
    assert result["rows"] == [{"count": duck(lake, f"select count(*) from m where {where}")[0][0]}]
    # proven by the statistics (one value, no nulls, in every row group counted): nothing read
    assert (result["explain"]["rows_read"] == 0) == from_footers


@pytest.mark.parametrize("args, where", [
    # the scope proven by each regional file's statistics: not applied again
    (["--region", "Utrecht"], "regio = 'Utrecht'"),
    (["--region", "Utrecht", "--region", "Oost"], REGIONS),
    # a status shares row groups with others: still filtered
    (["--region", "Oost", "--where", "status=Actief"], "regio = 'Oost' and status = 'Actief'"),
    (["--where", "status=Opgezegd"], "status = 'Opgezegd'"),
])
def test_rows_of_a_scope_equal_duckdb_whether_the_statistics_prove_the_filters_or_not(lake, args, where):
    mine = sorted(tuple(r.values()) for r in ours(lake, *args, "--select", "member_id,korte_naam")["rows"])
    theirs = sorted(duck(lake, f"select member_id, korte_naam from m where {where}"))
    assert mine == theirs and mine
