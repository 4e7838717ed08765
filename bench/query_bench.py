#!/usr/bin/env python3
"""Query benchmark: memberlake vs DuckDB on the same snapshot files, in the same run.

Every operator class (issue 12): point lookups, prefixes, ranges, between, enum and text
group-bys, sums, quantiles, top-N, OR groups, count(distinct), having, projections of many rows;
plus the report cases of before (regional-stats cold and cached, the birthday list). Each case
is first checked equal to DuckDB's answer (rows compared one by one), then timed: the median of
repeated runs, cold (no result cache), in process (build/memberlake_query_timings) and over the
HTTP API (a real `memberlake serve` on loopback with its caches off; timed until the whole answer is
received, not parsed). DuckDB runs the equivalent
SQL on the same Parquet file in this process and hands back an Arrow table (no Python objects).
Target: ratio <= 1.0 in process, <= 1.5 over HTTP.

Usage: .venv/bin/python bench/query_bench.py [--members 1000000] [--workdir DIR] [--runs 15] [--no-http]
"""
import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import duckdb

from server_bench import start, token  # the HTTP benchmark's server and tokens

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))
TIMINGS = os.environ.get("MEMBERLAKE_QUERY_TIMINGS", str(ROOT / "build" / "memberlake_query_timings"))

# (name, memberlake query (the --cases form), DuckDB SQL over view m (the full dataset) or r
# (the region's file)). Ordered answers, ties broken like memberlake (member_id, group keys).
def cases(email, lidnummer, region):
    return [
        ("point lookup by e-mail", {"where": [f"email={email}"], "select": ["member_id", "korte_naam", "regio"]},
         f"select member_id, korte_naam, regio from m where email = '{email}'"),
        ("point lookup by lidnummer", {"where": [f"lidnummer={lidnummer}"], "select": ["member_id", "email"]},
         f"select member_id, email from m where lidnummer = {lidnummer}"),
        ("prefix, count", {"where": ["achternaam^=Jans"], "agg": ["count"]},
         "select count(*) from m where starts_with(achternaam, 'Jans')"),
        ("range + enum, rows", {"where": ["regio=" + region, "leeftijd>=75"], "select": ["member_id", "leeftijd"],
                                "order_by": ["member_id"]},
         f"select member_id, leeftijd from m where regio = '{region}' and leeftijd >= 75 order by member_id"),
        ("between dates, by regio", {"where": ["geboortedatum between 1970-01-01 and 1974-12-31"],
                                     "group_by": ["regio"], "agg": ["count"], "order_by": ["regio"]},
         "select regio, count(*) from m where geboortedatum between date '1970-01-01' and date '1974-12-31' "
         "group by 1 order by 1"),
        ("enum group-by count (regional-stats)", {"where": ["status=Actief"], "group_by": ["regio", "lidmaatschap"],
                                                  "agg": ["count"], "order_by": ["regio", "lidmaatschap"]},
         "select regio, lidmaatschap, count(*) from m where status = 'Actief' group by all order by 1, 2"),
        ("avg by two enums", {"group_by": ["regio", "lidmaatschap"], "agg": ["avg(leeftijd)"],
                              "order_by": ["regio", "lidmaatschap"]},
         "select regio, lidmaatschap, avg(leeftijd) from m group by all order by 1, 2"),
        ("sum, min, max by enum", {"group_by": ["status"], "agg": ["sum(jaren_lid)", "min(leeftijd)", "max(leeftijd)"],
                                   "order_by": ["status"]},
         "select status, sum(jaren_lid), min(leeftijd), max(leeftijd) from m group by 1 order by 1"),
        ("text group-by count", {"where": ["status=Actief"], "group_by": ["woonplaats"], "agg": ["count"],
                                 "order_by": ["woonplaats"]},
         "select woonplaats, count(*) from m where status = 'Actief' group by 1 order by 1"),
        ("p90 per regio", {"group_by": ["regio"], "agg": ["quantile(jaren_lid,0.9)"], "order_by": ["regio"]},
         "select regio, quantile_cont(jaren_lid, 0.9) from m group by 1 order by 1"),
        ("median, all rows", {"agg": ["median(leeftijd)"]}, "select quantile_cont(leeftijd, 0.5) from m"),
        ("top-10 oldest", {"select": ["member_id", "korte_naam", "geboortedatum", "regio"],
                           "order_by": ["geboortedatum"], "limit": 10},
         "select member_id, korte_naam, geboortedatum, regio from m order by geboortedatum, member_id limit 10"),
        ("top-100 longest members, active", {"where": ["status=Actief"], "select": ["member_id", "jaren_lid"],
                                             "order_by": ["jaren_lid:desc"], "limit": 100},
         "select member_id, jaren_lid from m where status = 'Actief' order by jaren_lid desc, member_id limit 100"),
        ("OR group, by regio", {"any": ["regio=Limburg", "leeftijd>=80"], "group_by": ["regio"], "agg": ["count"],
                                "order_by": ["regio"]},
         "select regio, count(*) from m where regio = 'Limburg' or leeftijd >= 80 group by 1 order by 1"),
        ("count distinct by regio", {"group_by": ["regio"], "agg": ["count(distinct woonplaats)"],
                                     "order_by": ["regio"]},
         "select regio, count(distinct woonplaats) from m group by 1 order by 1"),
        ("having on count", {"group_by": ["woonplaats"], "agg": ["count"], "having": ["count>=100"],
                             "order_by": ["count:desc"]},
         "select woonplaats, count(*) c from m group by 1 having count(*) >= 100 order by c desc, woonplaats"),
        ("projection, one region's rows", {"region": [region], "select": ["member_id", "korte_naam", "postcode",
                                                                          "woonplaats"]},
         "select member_id, korte_naam, postcode, woonplaats from r"),
        ("projection, many rows ordered", {"where": ["leeftijd>=60"], "select": ["member_id", "lidnummer", "leeftijd"],
                                           "order_by": ["lidnummer"]},
         "select member_id, lidnummer, leeftijd from m where leeftijd >= 60 order by lidnummer, member_id"),
    ]


def median_ms(fn, runs):
    fn()  # warm: footers and the page cache, as memberlake's first run does
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def normalise(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def cli_args(spec):
    args = []
    for key, flag in [("region", "--region"), ("where", "--where"), ("any", "--any"), ("agg", "--agg"),
                      ("having", "--having"), ("order_by", "--order-by")]:
        for value in spec.get(key, []):
            args += [flag, value]
    for key, flag in [("select", "--select"), ("group_by", "--group-by")]:
        if spec.get(key):
            args += [flag, ",".join(spec[key])]
    if "limit" in spec:
        args += ["--limit", str(spec["limit"])]
    return args


def same(ours, theirs):
    if len(ours) != len(theirs):
        return False
    return all([normalise(v) for v in mine.values()] == [normalise(v) for v in row] for mine, row in zip(ours, theirs))


def http_params(spec):
    params = []
    for key in ["region", "where", "any", "agg", "having"]:
        params += [(key, v) for v in spec.get(key, [])]
    for key in ["select", "group_by", "order_by"]:
        if spec.get(key):
            params.append((key, ",".join(spec[key])))
    params.append(("limit", str(spec.get("limit", 10000))))
    return params


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--workdir")
    parser.add_argument("--region", default="Utrecht")
    parser.add_argument("--month", type=int, default=9)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        db, lake = work / f"m{args.members}.db", work / f"qlake{args.members}"
        if not db.exists():
            subprocess.run([BIN, "seed", "--store", f"sqlite:{db}", "--members", str(args.members)], check=True)
        if not (lake / "manifests" / "CURRENT").exists():
            subprocess.run([BIN, "generate", "--store", f"sqlite:{db}", "--lake", str(lake), "--as-of", "2026-01-07"],
                           check=True, capture_output=True)
        sid = (lake / "manifests" / "CURRENT").read_text().strip()
        manifest = json.loads((lake / "manifests" / f"snapshot-{sid}.json").read_text())
        full = lake / [f for f in manifest["files"] if f["kind"] == "full"][0]["path"]
        regional = lake / [f for f in manifest["files"] if f.get("region") == args.region][0]["path"]
        con = duckdb.connect()
        con.execute(f"create view m as select * from read_parquet('{full}')")
        con.execute(f"create view r as select * from read_parquet('{regional}')")
        email = con.execute("select email from m order by member_id limit 1 offset 777").fetchone()[0]
        lidnummer = con.execute("select lidnummer from m order by member_id limit 1 offset 4242").fetchone()[0]
        table = cases(email, lidnummer, args.region)

        # 1. equal answers first
        for name, spec, sql in table:
            ours = json.loads(subprocess.run([BIN, "query", "--lake", str(lake), "--format", "json", *cli_args(spec)],
                                             check=True, capture_output=True, text=True).stdout)["rows"]
            theirs = con.execute(sql).fetchall()
            if "order_by" not in spec and "group_by" not in spec:  # unordered rows: compare as sets
                key = lambda row: [str(normalise(v)) for v in row]
                ours = sorted(ours, key=lambda r: key(r.values()))
                theirs = sorted(theirs, key=key)
            if not same(ours, theirs):
                raise SystemExit(f"case '{name}': memberlake's answer differs from DuckDB's")

        # 2. timings: in process, DuckDB, HTTP
        case_file = work / "query_cases.json"
        case_file.write_text(json.dumps([dict(spec, name=name) for name, spec, _ in table]))
        ours = json.loads(subprocess.run([TIMINGS, "--lake", str(lake), "--cases", str(case_file), "--runs",
                                          str(args.runs)], check=True, capture_output=True, text=True).stdout)
        reports = json.loads(subprocess.run([TIMINGS, "--lake", str(lake), "--email", email, "--region", args.region,
                                             "--month", str(args.month), "--runs", str(args.runs)], check=True,
                                            capture_output=True, text=True).stdout)
        duck = {name: median_ms(lambda: con.sql(sql).to_arrow_table(), args.runs) for name, _, sql in table}
        birthdays_sql = (f"select korte_naam, verjaardag, leeftijd, straat, postcode, woonplaats, regio, lidnummer "
                         f"from r where status = 'Actief' and month(geboortedatum) = {args.month} "
                         f"order by regio, lidnummer")
        duck_birthdays = median_ms(lambda: con.sql(birthdays_sql).to_arrow_table(), args.runs)
        http = {}
        if not args.no_http:
            # caches off: every request is answered cold
            server, url = start(BIN, work, f"sqlite:{db}", lake, 4, 'listen = "127.0.0.1"', "cache_bytes = 0")
            if server is None:
                raise SystemExit("the server did not start")
            try:
                auth = {"Authorization": "Bearer " + token(["Members_CRUD", "Members_Export", "Regio_All"])}
                for name, spec, sql in table:
                    path = url + "/api/query?" + urllib.parse.urlencode(http_params(spec))

                    def get():
                        # Timed: the whole answer received. Python's json.loads of it is the
                        # client's cost, not the API's (13 ms of 47 for 10,000 rows); it is
                        # parsed once below, to check the answer.
                        with urllib.request.urlopen(urllib.request.Request(path, headers=auth)) as response:
                            return response.read()
                    rows = json.loads(get())["rows"]
                    expected = con.execute(sql).fetchall()[:10000]
                    if "order_by" in spec or "group_by" in spec:
                        if not same(rows, expected):
                            raise SystemExit(f"case '{name}' over HTTP: the answer differs from DuckDB's")
                    http[name] = median_ms(get, args.runs)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)

        print(f"{args.members:,} members; median ms of {args.runs} runs, cold; DuckDB {duckdb.__version__} on the "
              f"same files; every answer checked equal to DuckDB's first")
        print(f"{'case':38} {'memberlake':>10} {'DuckDB':>8} {'ratio':>6} {'HTTP':>8} {'ratio':>6}")
        misses = []
        for name, _, _ in table:
            ratio = ours[name] / duck[name]
            line = f"{name:38} {ours[name]:10.3f} {duck[name]:8.3f} {ratio:6.2f}"
            if name in http:
                line += f" {http[name]:8.3f} {http[name] / duck[name]:6.2f}"
                if http[name] / duck[name] > 1.5:
                    misses.append(f"{name} (HTTP)")
            if ratio > 1.0:
                misses.append(name)
            print(line)
        print(f"{'regional-stats report, cold':38} {reports['regional_stats_cold_ms']:10.3f} "
              f"{duck['enum group-by count (regional-stats)']:8.3f} "
              f"{reports['regional_stats_cold_ms'] / duck['enum group-by count (regional-stats)']:6.2f}")
        print(f"{'regional-stats report, cached':38} {reports['regional_stats_cached_ms']:10.4f} "
              f"{duck['enum group-by count (regional-stats)']:8.3f} "
              f"{reports['regional_stats_cached_ms'] / duck['enum group-by count (regional-stats)']:6.3f}")
        print(f"{'birthdays report, ' + args.region:38} {reports['regional_birthdays_ms']:10.3f} "
              f"{duck_birthdays:8.3f} {reports['regional_birthdays_ms'] / duck_birthdays:6.2f}")
        print("target missed: " + (", ".join(misses) if misses else "none"))


if __name__ == "__main__":
    main()
