#!/usr/bin/env python3
"""Generation benchmark: seeds N members into SQLite and times `memberlake generate` end to end.

Prints members/s, seconds per stage (scan, transform, write, publish), bytes per member and peak
RSS, for each size given (peak RSS at two sizes shows whether memory grows with N). Then, as a
peer in the same run, DuckDB writes the same files (full dataset, one per region, three views,
zstd) from a table already in memory, and the ratio is printed.

Usage: .venv/bin/python bench/generate_bench.py [--members 1000000] [--also 250000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))


def peak_rss_mib(args):
    """Runs a child to completion; returns its own peak RSS in MiB (wait4 accounting)."""
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(args[0], args)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{args} failed")
    return usage.ru_maxrss / 1024.0


def bench_size(members, workdir, duck):
    db = workdir / f"m{members}.db"
    store = f"sqlite:{db}"
    if not db.exists():
        t0 = time.perf_counter()
        subprocess.run([BIN, "seed", "--store", store, "--members", str(members), "--seed", "1"],
                       check=True, capture_output=True)
        seed_s = time.perf_counter() - t0
        print(f"seed      {members:>9,} members in {seed_s:6.2f} s  ({members / seed_s:,.0f} members/s)")
    lake = workdir / f"lake{members}"
    args = [BIN, "generate", "--store", store, "--lake", str(lake), "--as-of", "2026-01-07", "--json"]
    t0 = time.perf_counter()
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    summary = json.loads(out)
    rss = peak_rss_mib(args)  # a second, identical generation measured for peak RSS alone
    s = summary["seconds"]
    full = summary["files"][0]
    n = summary["members"]
    print(f"generate  {n:>9,} members in {wall:6.2f} s wall  ({n / wall:,.0f} members/s)")
    print(f"          stages: scan {s['scan']:.2f} s, transform {s['transform']:.2f} s, "
          f"write {s['write']:.2f} s, publish {s['publish']:.2f} s (total {s['total']:.2f} s)")
    total_bytes = sum(f["bytes"] for f in summary["files"])
    print(f"          bytes/member: full dataset {full['bytes'] / n:.1f}, all {len(summary['files'])} files "
          f"{total_bytes / n:.1f}; peak RSS {rss:,.0f} MiB")
    if duck:
        duck_seconds = duckdb_peer(lake / full["path"], workdir / f"duck{members}")
        print(f"peer      DuckDB writes the same files from memory in {duck_seconds:.2f} s; "
              f"memberlake end to end / DuckDB write only = {wall / duck_seconds:.2f}")
    return wall, rss


def duckdb_peer(full_path, outdir):
    import duckdb
    outdir.mkdir(exist_ok=True)
    con = duckdb.connect()
    con.execute(f"create table m as select * from read_parquet('{full_path}')")
    regions = [r[0] for r in con.execute("select distinct regio from m").fetchall()]
    opts = "(format parquet, compression zstd)"
    t0 = time.perf_counter()
    con.execute(f"copy (select * from m order by regio, status, lidmaatschap) to '{outdir}/full.parquet' {opts}")
    for i, region in enumerate(regions):
        con.execute(f"copy (select * from m where regio = ? order by status, lidmaatschap) "
                    f"to '{outdir}/r{i}.parquet' {opts}", [region])
    con.execute(f"copy (select * from m where status = 'Actief' order by regio, status, lidmaatschap) "
                f"to '{outdir}/active.parquet' {opts}")
    con.execute(f"copy (select member_id, lidnummer, korte_naam, regio, status, lidmaatschap, motormerk, "
                f"motortype, bouwjaar, kenteken from m where status = 'Actief' and lidmaatschap in "
                f"('Gewoon lid', 'Gezins lid') and motormerk is not null order by regio, status, lidmaatschap) "
                f"to '{outdir}/motor.parquet' {opts}")
    con.execute(f"copy (select member_id, korte_naam, email, telefoon, straat, postcode, woonplaats, regio, "
                f"status, clubblad, nieuwsbrief from m where status = 'Actief' order by regio, status, "
                f"lidmaatschap) to '{outdir}/comm.parquet' {opts}")
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--also", type=int, default=250_000, help="a second, smaller size (0: none)")
    parser.add_argument("--no-duckdb", action="store_true")
    parser.add_argument("--workdir", help="keep stores here between runs (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = {}
        for size in ([args.also] if args.also else []) + [args.members]:
            results[size] = bench_size(size, workdir, not args.no_duckdb)
        if len(results) == 2:
            (small, (_, rss_small)), (big, (_, rss_big)) = sorted(results.items())
            print(f"memory    {big / small:.1f}x the members -> {rss_big / rss_small:.2f}x the peak RSS")


if __name__ == "__main__":
    main()
