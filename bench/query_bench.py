#!/usr/bin/env python3
"""Query benchmark: memberlake vs DuckDB on the same snapshot files, in the same run.

Cases (issue: query engine): regional-stats cold (no result cache) and cached, point lookup by
e-mail, one region's birthday list for a month. Each figure is the median of repeated runs;
DuckDB queries the same Parquet files (full dataset; the region's file for the birthday list).

Usage: .venv/bin/python bench/query_bench.py [--members 1000000] [--workdir DIR]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))
TIMINGS = str(ROOT / "build" / "memberlake_query_timings")


def median_ms(fn, runs=15):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--workdir")
    parser.add_argument("--region", default="Utrecht")
    parser.add_argument("--month", type=int, default=9)
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
        email = con.execute(f"select email from read_parquet('{full}') order by member_id limit 1 offset 777").fetchone()[0]

        ours = json.loads(subprocess.run([TIMINGS, "--lake", str(lake), "--email", email, "--region", args.region,
                                          "--month", str(args.month)], check=True, capture_output=True,
                                         text=True).stdout)
        duck = {
            "regional_stats": median_ms(lambda: con.execute(
                f"select regio, lidmaatschap, count(*) from read_parquet('{full}') where status = 'Actief' "
                f"group by all order by 1, 2").fetchall()),
            "point_lookup": median_ms(lambda: con.execute(
                f"select member_id, korte_naam, regio from read_parquet('{full}') where email = ?", [email]).fetchall()),
            "regional_birthdays": median_ms(lambda: con.execute(
                f"select korte_naam, verjaardag, leeftijd, straat, postcode, woonplaats, regio, lidnummer "
                f"from read_parquet('{regional}') where status = 'Actief' and month(geboortedatum) = {args.month} "
                f"order by regio, lidnummer").fetchall()),
        }
        rows = [("regional-stats, cold", ours["regional_stats_cold_ms"], duck["regional_stats"]),
                ("regional-stats, cached", ours["regional_stats_cached_ms"], duck["regional_stats"]),
                ("point lookup by e-mail", ours["point_lookup_ms"], duck["point_lookup"]),
                (f"birthdays, {args.region}, month {args.month}", ours["regional_birthdays_ms"],
                 duck["regional_birthdays"])]
        print(f"{args.members:,} members; median ms of repeated runs; DuckDB {duckdb.__version__} on the same files")
        print(f"{'case':34} {'memberlake':>11} {'DuckDB':>9} {'ratio':>7}")
        for name, mine, theirs in rows:
            print(f"{name:34} {mine:11.3f} {theirs:9.3f} {mine / theirs:7.3f}")


if __name__ == "__main__":
    main()
