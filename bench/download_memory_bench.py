"""Peak memory of streamed answers: how much the server's peak RSS (VmHWM) grows while one
large answer is downloaded, next to the answer's size. A real `memberlake serve` on loopback
(two workers), seeded with --members members. Prints figures; asserts nothing.

    MEMBERLAKE_BIN=build/memberlake .venv/bin/python bench/download_memory_bench.py [--members 100000]

Rows: the snapshot's full file as stored, the same file without the restricted columns (made
from the stored file a batch at a time), address labels (PDF) of a few members and of every
member. Each row runs in a fresh server; the labels after the same query exported as CSV (so
the query's result is in the result cache and the figure is what the PDF itself costs).
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from server_support import Server, start_server  # noqa: E402  (bench/ is this script's directory)

LABEL_COLUMNS = "member_id,korte_naam,straat,postcode,woonplaats,land"


class Dirs:
    """start_server's tmp_path_factory, outside pytest."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="memberlake-download-bench-"))

    def mktemp(self, name):
        return Path(tempfile.mkdtemp(prefix=name, dir=self.root))


def kib(server, field):
    for line in open(f"/proc/{server.proc.pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def measure(server, path, token, params=None):
    """(peak growth in bytes, answer bytes, seconds) of one GET; a query is run first as CSV."""
    if params:
        warm = server.get(path, token, params={**params, "format": "csv"})
        assert warm.status == 200, warm.text
    server.get("/health")
    before = kib(server, "VmHWM")
    start = time.monotonic()
    answer = server.get(path, token, params=params)
    seconds = time.monotonic() - start
    assert answer.status == 200, answer.text
    return (kib(server, "VmHWM") - before) * 1024, len(answer.body), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    args = parser.parse_args()
    dirs = Dirs()
    server = start_server(dirs, members=args.members, seed=57, server_extra="threads = 2\n")
    snapshot = (server.lake / "manifests" / "CURRENT").read_text().strip()
    manifest = json.loads((server.lake / "manifests" / f"snapshot-{snapshot}.json").read_text())
    full = max((f for f in manifest["files"] if f["kind"] == "full"), key=lambda f: f["bytes"])
    download = f"/api/snapshots/{snapshot}/files/{full['path']}"
    rows = [
        ("full file as stored", download, server.keys.hs256(["System_CRUD"]), None),
        ("full file, restricted columns removed", download,
         server.keys.hs256(["Members_Read", "Members_Export", "Regio_All"]), None),
        ("address labels (PDF), 100 members", "/api/query", server.keys.hs256(["Members_CRUD", "Regio_All"]),
         {"select": LABEL_COLUMNS, "order_by": "member_id", "limit": "100", "format": "pdf"}),
        ("address labels (PDF), every member", "/api/query", server.keys.hs256(["Members_CRUD", "Regio_All"]),
         {"select": LABEL_COLUMNS, "order_by": "member_id", "format": "pdf"}),
    ]
    print(f"{args.members} members; stored full file {full['bytes'] / 1e6:.1f} MB, {full['rows']} rows\n")
    print(f"{'answer':40} {'bytes':>12} {'peak RSS growth':>16} {'seconds':>8}")
    try:
        for name, path, token, params in rows:
            growth, size, seconds = measure(server, path, token, params)
            print(f"{name:40} {size / 1e6:10.1f} MB {growth / 1e6:13.1f} MB {seconds:8.2f}")
            server.stop()  # a fresh process for the next row: its peak starts from a clean slate
            server = Server(server.base, server.store, server.lake, server.keys, server.base / "api_keys.toml",
                            server_extra="threads = 2\n")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
