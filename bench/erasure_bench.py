#!/usr/bin/env python3
"""Erasure benchmark (issue 17): the time to erase one member from the live store and from 30
kept snapshots of N members, end to end (`memberlake erase`), run once per size.

The 30 snapshots: one generated snapshot, then 29 copies of its files and manifest under new
snapshot ids (hard links: the same bytes an erasure must read and rewrite, without 29 more
generations). The erased member is in one region and in the views of active members, as most
are. Prints the seconds, files replaced, rows removed and the per-snapshot cost.

Usage: .venv/bin/python bench/erasure_bench.py [--members 100000] [--also 1000000] [--snapshots 30]
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))
KEY = "bench-pseudonym-key-0123456789abcdef"


def ml(*args):
    env = dict(os.environ, MEMBERLAKE_PSEUDONYM_KEY=KEY)
    return subprocess.run([BIN, *map(str, args)], check=True, capture_output=True, text=True, env=env).stdout


def timed(*args):
    """Runs the binary; returns its stdout, wall seconds, exit code and stderr. (Its CPU time is
    read from RUSAGE_CHILDREN around the call: on a shared machine the steadier figure.)"""
    env = dict(os.environ, MEMBERLAKE_PSEUDONYM_KEY=KEY)
    t0 = time.perf_counter()
    proc = subprocess.Popen([BIN, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    return out, wall, proc.returncode, err


def clone_snapshots(lake: Path, count: int):
    """`count` - 1 copies of the current snapshot under ids one minute apart, oldest first."""
    current = (lake / "manifests" / "CURRENT").read_text().strip()
    source = json.loads((lake / "manifests" / f"snapshot-{current}.json").read_text())
    previous = current
    for i in range(1, count):
        # same day, a later minute: ids sort after the generated one
        new_id = current[:9] + f"{(int(current[9:11]) + (int(current[11:13]) + i) // 60) % 24:02d}" \
                 f"{(int(current[11:13]) + i) % 60:02d}" + current[13:]
        doc = json.loads(json.dumps(source))
        doc["snapshot_id"], doc["previous_snapshot_id"] = new_id, previous
        for f in doc["files"]:
            path = f["path"].replace(current, new_id)
            (lake / path).parent.mkdir(parents=True, exist_ok=True)
            os.link(lake / f["path"], lake / path)
            f["path"] = path
        quarantine = doc["quarantine_path"].replace(current, new_id)
        os.link(lake / doc["quarantine_path"], lake / quarantine)
        doc["quarantine_path"] = quarantine
        (lake / "manifests" / f"snapshot-{new_id}.json").write_text(json.dumps(doc, indent=2) + "\n")
        previous = new_id
    (lake / "manifests" / "CURRENT").write_text(previous + "\n")


def bench(members: int, snapshots: int, workdir: Path):
    store = f"sqlite:{workdir / f'm{members}.db'}"
    lake = workdir / f"lake{members}"
    t0 = time.perf_counter()
    ml("seed", "--store", store, "--members", members, "--seed", 1)
    ml("generate", "--store", store, "--lake", lake, "--as-of", "2026-01-07")
    clone_snapshots(lake, snapshots)
    setup = time.perf_counter() - t0
    import pyarrow.parquet as pq
    current = (lake / "manifests" / "CURRENT").read_text().strip()
    manifest = json.loads((lake / "manifests" / f"snapshot-{current}.json").read_text())
    full = next(f["path"] for f in manifest["files"] if f["kind"] == "full")
    rows = pq.read_table(lake / full, columns=["member_id", "status"]).to_pylist()
    victim = next(r["member_id"] for r in rows if r["status"] == "Actief")
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, seconds, code, err = timed("erase", "--member", victim, "--store", store, "--lake", lake, "--audit-log",
                                    workdir / f"audit{members}.log", "--yes", "--json")
    assert code == 0, err
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = json.loads(out)["erasure"]
    assert len(report["revised_snapshots"]) == snapshots, report
    print(f"erase 1 member, {snapshots} snapshots x {members:>9,} members: {seconds:7.2f} s wall, {cpu:7.2f} s CPU "
          f"({cpu / snapshots:5.2f} s CPU per snapshot; {report['files_replaced']} files replaced, "
          f"{report['rows_removed']} rows removed; setup {setup:.0f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--also", type=int, action="append", default=[])
    parser.add_argument("--snapshots", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="memberlake-erasure-bench-") as tmp:
        for members in [args.members, *args.also]:
            bench(members, args.snapshots, Path(tmp))


if __name__ == "__main__":
    main()
