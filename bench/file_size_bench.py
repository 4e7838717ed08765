#!/usr/bin/env python3
"""File size benchmark: memberlake's full dataset against pyarrow's and DuckDB's writers.

Seeds N members into SQLite (or reuses --workdir), runs `memberlake generate`, reads the full
dataset back and, from those same rows, writes it with pyarrow's default zstd writer and with
DuckDB's (zstd). Prints bytes per member of each, and what the bloom filters take in
memberlake's file.

With --choices it also replays the layout's choices one by one with pyarrow's writer (the same
parquet-cpp memberlake links), cumulatively, on the same rows: row groups cut per region at
32,768 rows, 8,192-row pages, statistics and page indexes, bloom filters on the lookup
columns. Then the alternatives that were measured and not taken. That is how the layout in
docs/scale.md ("Smaller files") was chosen.

Usage: .venv/bin/python bench/file_size_bench.py [--members 200000] [--choices] [--workdir DIR]
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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))
ROW_GROUP = 32768
LOOKUPS = ["member_id", "lidnummer", "achternaam", "email", "postcode"]
IDENTIFIERS = ["member_id", "email", "telefoon", "kenteken", "bankrekeningnummer", "notities"]


def generate(members, workdir):
    db = workdir / f"m{members}.db"
    store = f"sqlite:{db}"
    if not db.exists():
        subprocess.run([BIN, "seed", "--store", store, "--members", str(members), "--seed", "1"],
                       check=True, capture_output=True)
    lake = workdir / f"lake{members}"
    out = subprocess.run([BIN, "generate", "--store", store, "--lake", str(lake), "--as-of", "2026-01-07", "--json"],
                         check=True, capture_output=True, text=True).stdout
    summary = json.loads(out)
    return lake / summary["files"][0]["path"]


def bloom_bytes(path):
    md = pq.ParquetFile(path).metadata
    per_column = {}
    for g in range(md.num_row_groups):
        group = md.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            length = getattr(chunk, "bloom_filter_length", None) or 0
            per_column[chunk.path_in_schema] = per_column.get(chunk.path_in_schema, 0) + length
    return {k: v for k, v in per_column.items() if v}


def region_windows(table, cluster_by=None):
    """The table (sorted by regio, status, lidmaatschap) cut into row groups as memberlake cuts
    them: a region starts one, 32,768 rows close one; optionally each sorted by cluster_by."""
    regions = pc.cast(table.column("regio"), pa.string()).to_pylist()
    starts = [0] + [i for i in range(1, len(regions)) if regions[i] != regions[i - 1]] + [len(regions)]
    for a, b in zip(starts, starts[1:]):
        for w in range(a, b, ROW_GROUP):
            window = table.slice(w, min(ROW_GROUP, b - w))
            if cluster_by:
                keys = pa.table({"s": window.column("status").combine_chunks().indices,
                                 "l": window.column("lidmaatschap").combine_chunks().indices,
                                 "c": window.column(cluster_by)})
                window = window.take(pc.sort_indices(keys, sort_keys=[("s", "ascending"), ("l", "ascending"),
                                                                       ("c", "ascending")]))
            yield window


def write_layout(table, out, *, fpp=0.01, delta_dates=False, delta_ids=False, dict_names=False, cluster="member_id",
                 level=None, row_group=ROW_GROUP, page_rows=8192):
    temporal = [f.name for f in table.schema if pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)]
    encodings = {}
    if delta_dates:
        encodings.update({c: "DELTA_BINARY_PACKED" for c in temporal + ["lidnummer"]})
    if delta_ids:
        encodings.update({c: "DELTA_LENGTH_BYTE_ARRAY" for c in IDENTIFIERS})
    no_dict = set(IDENTIFIERS) | ({"lidnummer"} if delta_dates else set()) | (set() if dict_names else {"straat", "korte_naam"})
    dictionary = [c for c in table.column_names if c not in no_dict and c not in encodings]
    blooms = {c: {"fpp": fpp, "ndv": row_group} for c in LOOKUPS} if fpp else None
    with pq.ParquetWriter(out, table.schema, compression="zstd", compression_level=level, use_dictionary=dictionary,
                          column_encoding=encodings or None, write_page_index=True, write_statistics=True,
                          max_rows_per_page=page_rows, bloom_filter_options=blooms) as writer:
        for window in region_windows(table, cluster):
            writer.write_table(window, row_group_size=row_group)
    return os.path.getsize(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--choices", action="store_true", help="replay each layout choice with pyarrow's writer")
    parser.add_argument("--workdir", help="keep stores here between runs (default: a temp dir)")
    parser.add_argument("--file", help="measure this memberlake full-dataset file instead of generating one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        full = Path(args.file) if args.file else generate(args.members, workdir)
        table = pq.read_table(full)
        n = table.num_rows

        def show(name, size, seconds=None):
            took = f"  {seconds:5.1f} s" if seconds is not None else ""
            print(f"{name:58s} {size / 1e6:8.2f} MB {size / n:7.1f} B/member{took}", flush=True)

        ours = os.path.getsize(full)
        show("memberlake full dataset", ours)
        blooms = bloom_bytes(full)
        print(f"  of which bloom filters: {sum(blooms.values()) / n:.1f} B/member "
              + ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(blooms.items())))
        out = workdir / "peer.parquet"
        t0 = time.perf_counter()
        pq.write_table(table, out, compression="zstd")
        pyarrow_size = os.path.getsize(out)
        show("pyarrow write_table(compression='zstd')", pyarrow_size, time.perf_counter() - t0)
        con = duckdb.connect()
        con.register("m", table)
        t0 = time.perf_counter()
        con.execute(f"copy m to '{out}' (format parquet, compression zstd)")
        duck_size = os.path.getsize(out)
        show("DuckDB COPY (compression zstd)", duck_size, time.perf_counter() - t0)
        print(f"memberlake / pyarrow = {ours / pyarrow_size:.3f}, memberlake / DuckDB = {ours / duck_size:.3f}")
        if not args.choices:
            return
        # Steps 0-4 order the ties on (regio, status, lidmaatschap) by member_id, a random UUID:
        # as unrelated to the dates as the store's order the previous layout kept.
        steps = [
            ("0 previous layout (dict, zstd 1, bloom fpp 0.01)", {}),
            ("1 + bloom fpp 0.05", {"fpp": 0.05}),
            ("2 + DELTA_BINARY_PACKED dates, timestamps, lidnummer", {"fpp": 0.05, "delta_dates": True}),
            ("3 + DELTA_LENGTH_BYTE_ARRAY identifiers", {"fpp": 0.05, "delta_dates": True, "delta_ids": True}),
            ("4 + dictionary for straat, korte_naam",
             {"fpp": 0.05, "delta_dates": True, "delta_ids": True, "dict_names": True}),
            ("5 + rows clustered by ingangsdatum in each row group",
             {"fpp": 0.05, "delta_dates": True, "delta_ids": True, "dict_names": True, "cluster": "ingangsdatum"}),
        ]
        final = steps[-1][1]
        others = [
            ("  alt: 5 with zstd level 3", dict(final, level=3)),
            ("  alt: 5 with zstd level 9", dict(final, level=9)),
            ("  alt: 5 with row groups of 65,536 rows", dict(final, row_group=65536)),
            ("  alt: 5 with pages of 20,000 rows", dict(final, page_rows=20000)),
            ("  alt: 5 with bloom fpp 0.01", dict(final, fpp=0.01)),
            ("  alt: 5 without bloom filters (not allowed)", dict(final, fpp=None)),
        ]
        for name, options in steps + others:
            t0 = time.perf_counter()
            size = write_layout(table, out, **options)
            show(name, size, time.perf_counter() - t0)


if __name__ == "__main__":
    sys.exit(main())
