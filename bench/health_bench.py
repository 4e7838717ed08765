#!/usr/bin/env python3
"""Deep data check benchmark (issue 16): seeds N members into SQLite, generates (the deep check
runs inside, before publishing), then times `snapshots verify --deep --store` on its own, with
peak RSS. Prints generation's stages, the in-generation check and the standalone check, and
the ratio check / generation (target: no more than 1).

Usage: .venv/bin/python bench/health_bench.py [--members 1000000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generate_bench import peak_rss_mib  # bench/ is on the path when run as a script

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))


def timed(args):
    """Runs a child to completion; returns (wall seconds, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{args} failed: {err}")
    return seconds, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="memberlake-health-bench-") as tmp:
        work = Path(tmp)
        store = f"sqlite:{work / 'm.db'}"
        lake = str(work / "lake")
        subprocess.run([BIN, "seed", "--store", store, "--members", str(args.members)], check=True,
                       capture_output=True)
        generate_wall, out = timed([BIN, "generate", "--store", store, "--lake", lake, "--as-of", "2026-01-07",
                                    "--json"])
        summary = json.loads(out)
        seconds = summary["seconds"]
        verify = [BIN, "snapshots", "verify", "--lake", lake, "--deep", "--store", store, "--json"]
        verify_wall, out = timed(verify)
        report = json.loads(out)
        rss = peak_rss_mib(verify)
        without_check = seconds["total"] - seconds["check"]
        print(f"members {summary['members']:,} (+{summary['quarantined']} quarantined)")
        print(f"generate: {generate_wall:.2f} s wall; stages scan {seconds['scan']:.2f} transform "
              f"{seconds['transform']:.2f} write {seconds['write']:.2f} check {seconds['check']:.2f} "
              f"publish {seconds['publish']:.2f} total {seconds['total']:.2f} (without the check {without_check:.2f})")
        print(f"verify --deep: {verify_wall:.2f} s wall ({report['seconds']:.2f} s in the check), peak RSS {rss:.0f} MiB")
        for check in report["checks"]:
            print(f"  {check['name']:<18} rows checked {check['rows_checked']:>10,}  mismatches {check['mismatches']}")
        print(f"ratio verify --deep / generation without the check: {verify_wall / without_check:.2f}")


if __name__ == "__main__":
    main()
