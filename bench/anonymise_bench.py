#!/usr/bin/env python3
"""Anonymisation benchmark: seeds N members into SQLite, generates a snapshot, then times
`memberlake anonymise` end to end (lake read of the chosen columns, the generalisation search,
suppression, Parquet write) for the default columns at k = 2, 5, 10 and for a chosen set at
k = 5. Prints wall time, peak RSS, the levels chosen and the information lost (rows suppressed,
normalised certainty penalty, discernibility), and checks with DuckDB that the smallest class
over all released quasi-identifiers is at least k.

Usage: .venv/bin/python bench/anonymise_bench.py [--members 1000000] [--workdir DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))
CHOSEN = "regio,leeftijd,geslacht,jaren_lid,motormerk,bouwjaar,status"


def timed(args):
    """Runs a child to completion: (wall seconds, peak RSS MiB, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{args} failed: {err}")
    return wall, usage.ru_maxrss / 1024.0, out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1000000)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        db, lake = work / f"m{args.members}.db", work / f"lake{args.members}"
        if not db.exists():
            subprocess.run([BIN, "seed", "--store", f"sqlite:{db}", "--members", str(args.members), "--seed", "1"],
                           check=True, capture_output=True)
        if not lake.exists():
            subprocess.run([BIN, "generate", "--store", f"sqlite:{db}", "--lake", str(lake), "--as-of", "2026-01-07"],
                           check=True, capture_output=True)
        print(f"| columns | k | wall | peak RSS | rows in | suppressed | classes | smallest (DuckDB) | NCP | "
              f"discernibility | levels chosen |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for columns, k in [(None, 2), (None, 5), (None, 10), (CHOSEN, 5)]:
            out = work / f"anon-{k}-{'chosen' if columns else 'default'}.parquet"
            cmd = [BIN, "anonymise", "--lake", str(lake), "--out", str(out), "--k", str(k), "--json"]
            if columns:
                cmd += ["--columns", columns]
            wall, rss, stdout = timed(cmd)
            s = json.loads(stdout)
            quasi = ", ".join(f'"{q}"' for q in s["quasi_identifiers"])
            smallest = duckdb.connect().execute(f"select min(n) from (select count(*) n from read_parquet('{out}') "
                                  f"group by {quasi})").fetchone()[0]
            levels = ", ".join(f"{g['column']} {g['generalisation']}" for g in s["generalisation"] if g["role"] == "quasi")
            loss = s["information_loss"]
            print(f"| {'chosen' if columns else 'default'} | {k} | {wall:.2f} s | {rss:.0f} MiB | {s['rows_in']:,} | "
                  f"{s['suppressed']:,} ({100 * loss['suppressed_fraction']:.1f}%) | {s['classes']:,} | {smallest} | "
                  f"{loss['ncp']:.3f} | {loss['discernibility']:.3g} | {levels} |")


if __name__ == "__main__":
    main()
