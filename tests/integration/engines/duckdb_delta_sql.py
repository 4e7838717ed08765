"""Runs SQL in DuckDB with the delta extension of the PyPI wheel `duckdb-extension-delta` and
prints the rows as JSON (one list per row). Runs in .venv-duckdb-delta (scripts/bootstrap.sh):
the wheel is built for an older DuckDB than the main venv pins, so it gets a venv of its own.

    .venv-duckdb-delta/bin/python tests/integration/engines/duckdb_delta_sql.py \
        "SELECT count(*) FROM delta_scan('var/lake/parquet/full-dataset')"

Exit 0 with the rows on stdout; 1 with DuckDB's error on stderr (a failed query is an answer
the caller checks, not a crash)."""
import json
import pathlib
import sys

import duckdb
import duckdb_extension_delta


def main(sql: str) -> int:
    # The wheel carries the signed extension binary for its DuckDB version; LOAD it by path
    # (no download from extensions.duckdb.org at test time).
    package = pathlib.Path(duckdb_extension_delta.__file__).parent
    binary = next(package.glob(f"extensions/v{duckdb.__version__}/delta.duckdb_extension"), None)
    if binary is None:
        print(f"duckdb-extension-delta has no binary for DuckDB {duckdb.__version__}", file=sys.stderr)
        return 2
    con = duckdb.connect()
    con.execute(f"LOAD '{binary}'")
    try:
        rows = con.sql(sql).fetchall()
    except duckdb.Error as error:
        print(str(error), file=sys.stderr)
        return 1
    print(json.dumps([list(row) for row in rows], default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
