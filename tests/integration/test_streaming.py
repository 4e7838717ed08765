"""Answers streamed, never held whole (issue 11 item 2): a large snapshot file goes out in chunks
as it is read from the lake, and exports and large JSON answers in every format are made piece
by piece as they are sent, so the server's memory does not grow with the answer, not even for a
client that stops reading. Slow readers hold no worker (the server runs with two), and one that
stops reading is cut off after server.write_stall_seconds."""
import csv
import http.client
import io
import json
import re
import socket
import threading
import time
import urllib.parse

import subprocess

import openpyxl
import pyarrow.parquet as pq
import pypdf
import pytest

from server_support import METRICS_TOKEN, serve

MEMBERS = 100_000
WORKERS = 2
STALL_SECONDS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve(tmp_path_factory, members=MEMBERS, seed=57,
                     server_extra=f"threads = {WORKERS}\nwrite_stall_seconds = {STALL_SECONDS}\n")


def memory_kib(server, field):
    """VmRSS (now) or VmHWM (peak) of the server process, in KiB."""
    for line in open(f"/proc/{server.proc.pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{server.proc.pid}/status")


def full_file(server):
    snapshot = (server.lake / "manifests" / "CURRENT").read_text().strip()
    manifest = json.loads((server.lake / "manifests" / f"snapshot-{snapshot}.json").read_text())
    full = max((f for f in manifest["files"] if f["kind"] == "full"), key=lambda f: f["bytes"])
    return snapshot, full


def download_path(snapshot, file):
    return urllib.parse.quote(f"/api/snapshots/{snapshot}/files/{file['path']}", safe="/")


def open_download(server, snapshot, file, close):
    """A raw connection with a small receive buffer (a slow client) that asked for `file` and read
    the start of the answer: (socket, bytes read so far)."""
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    client = socket.create_connection((host, int(port)), timeout=60)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    client.sendall((f"GET {download_path(snapshot, file)} HTTP/1.1\r\nHost: {host}\r\n"
                    f"Authorization: Bearer {server.keys.hs256(['System_CRUD'])}\r\n"
                    + ("Connection: close\r\n" if close else "") + "\r\n").encode())
    received = client.recv(65536)
    assert received.startswith(b"HTTP/1.1 200")
    return client, received


def last_logged(server, file):
    lines = [json.loads(line) for line in (server.base / "access.log").read_text().splitlines()]
    return [line for line in lines if line["path"].endswith(file["path"])][-1]


def test_a_large_download_is_chunked_identical_and_does_not_grow_the_server(server):
    snapshot, file = full_file(server)
    on_disk = (server.lake / file["path"]).read_bytes()
    assert len(on_disk) > 4 << 20, f"the file should be large: {len(on_disk)} bytes"
    token = server.keys.hs256(["System_CRUD"])  # sees restricted fields: the file as it is
    server.get("/health")
    before = memory_kib(server, "VmHWM")
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    connection.request("GET", download_path(snapshot, file), headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    assert response.status == 200
    body = response.read()
    connection.close()
    growth = (memory_kib(server, "VmHWM") - before) * 1024
    assert body == on_disk
    assert growth < len(on_disk) / 4, f"peak memory grew by {growth} bytes for a {len(on_disk)}-byte file"
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Length") is None
    assert response.getheader("ETag") == '"' + file["sha256"][:32] + '"'
    # The access log counts the streamed bytes.
    logged = last_logged(server, file)
    assert logged["bytes"] == len(on_disk) and logged["status"] == 200


def test_a_client_that_stops_reading_does_not_grow_the_server(server):
    snapshot, file = full_file(server)
    size = (server.lake / file["path"]).stat().st_size
    before = memory_kib(server, "VmRSS")
    client, received = open_download(server, snapshot, file, close=True)
    with client:
        time.sleep(STALL_SECONDS - 1.5)  # the client stops reading; the server must wait, not buffer the rest
        stalled = memory_kib(server, "VmRSS")
        assert (stalled - before) * 1024 < size / 4, f"memory grew by {(stalled - before) * 1024} bytes while stalled"
        while chunk := client.recv(1 << 20):
            received += chunk
    head, _, chunked = received.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert chunked.endswith(b"0\r\n\r\n")  # ended cleanly after the stall
    assert len(chunked) > size


def test_head_of_a_download_has_no_body(server):
    snapshot, file = full_file(server)
    token = server.keys.hs256(["System_CRUD"])
    response = server.request("HEAD", f"/api/snapshots/{snapshot}/files/{file['path']}", token)
    assert response.status == 200 and response.body == b""
    assert response.headers.get("ETag") == '"' + file["sha256"][:32] + '"'


def test_a_read_error_after_the_headers_ends_the_connection_without_a_clean_end(server):
    snapshot, file = full_file(server)
    path = server.lake / file["path"]
    original = path.read_bytes()
    try:
        client, received = open_download(server, snapshot, file, close=False)
        with client:
            time.sleep(1)
            with open(path, "r+b") as shrink:  # the file shrinks under the open download
                shrink.truncate(0)
            while chunk := client.recv(1 << 20):  # keep-alive was asked: only a close ends this
                received += chunk
    finally:
        path.write_bytes(original)
    assert len(received) < len(original)
    assert not received.endswith(b"0\r\n\r\n")
    assert 0 < last_logged(server, file)["bytes"] < len(original)


@pytest.mark.parametrize("path", ["/api/query", "/api/members"])
def test_csv_and_ndjson_exports_are_streamed_with_every_row(server, path):
    token = server.keys.hs256(["Members_CRUD", "Regio_All"])
    params = {"select": "member_id,lidnummer,regio", "order_by": "member_id"}
    reference = server.get(path, token, params={**params, "format": "parquet"})
    assert reference.status == 200, reference.text
    expected = pq.read_table(io.BytesIO(reference.body)).column("member_id").to_pylist()
    assert len(expected) > 50_000
    csv_export = server.get(path, token, params={**params, "format": "csv"})
    assert csv_export.status == 200 and csv_export.headers.get("Transfer-Encoding") == "chunked"
    rows = list(csv.reader(io.StringIO(csv_export.body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == ["member_id", "lidnummer", "regio"] and [row[0] for row in rows[1:]] == expected
    ndjson_export = server.get(path, token, params={**params, "format": "ndjson"})
    assert ndjson_export.status == 200 and ndjson_export.headers.get("Transfer-Encoding") == "chunked"
    assert [json.loads(line)["member_id"] for line in ndjson_export.body.decode().splitlines()] == expected


def admin(server):
    return server.keys.hs256(["Members_CRUD", "Regio_All"])


def rows_of(fmt, body):
    """The lidnummer column of an answer, read back by an independent reader."""
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(body)).column("lidnummer").to_pylist()
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).active
        rows = sheet.iter_rows(values_only=True)
        column = next(rows).index("lidnummer")
        return [None if row[column] is None else int(row[column]) for row in rows]
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
        column = rows[0].index("lidnummer")
        return [int(row[column]) if row[column] else None for row in rows[1:]]
    if fmt == "ndjson":
        return [json.loads(line)["lidnummer"] for line in body.decode().splitlines()]
    return [row["lidnummer"] for row in json.loads(body)["rows"]]


@pytest.mark.parametrize("fmt", ["json", "csv", "ndjson", "parquet", "xlsx"])
def test_a_large_answer_in_every_format_is_streamed_whole_without_growing_the_server(server, fmt):
    """The member-overview report lists every member (11 columns): its rows are in memory once
    (the query's result), but no format may hold its whole text or file as well."""
    token = admin(server)
    path = "/api/reports/member-overview"
    # The reference also warms the query's peak; a request of its own (comma-separated CSV), so
    # the one measured is never a lookup of it in the rendered-answer cache.
    reference = server.get(path, token, params={"format": "csv", "csv_separator": ","})
    assert reference.status == 200, reference.text
    rows = list(csv.reader(io.StringIO(reference.body.decode("utf-8-sig"), newline=""), delimiter=","))
    column = rows[0].index("lidnummer")
    expected = [int(row[column]) if row[column] else None for row in rows[1:]]
    assert len(expected) > 90_000
    server.get("/health")
    before = memory_kib(server, "VmHWM")
    answer = server.get(path, token, params={"format": fmt})
    growth = (memory_kib(server, "VmHWM") - before) * 1024
    assert answer.status == 200, answer.text
    assert answer.headers.get("Transfer-Encoding") == "chunked"
    assert rows_of(fmt, answer.body) == expected
    bound = max(24 << 20, len(answer.body) // 4)
    assert growth < bound, f"{fmt}: peak memory grew by {growth} bytes for a {len(answer.body)}-byte answer"


def test_a_download_without_restricted_columns_is_streamed_by_row_group(server):
    snapshot, file = full_file(server)
    token = server.keys.hs256(["Members_Read", "Members_Export", "Regio_All"])  # no restricted fields
    on_disk = pq.read_table(server.lake / file["path"])
    # First a smaller file the same way (a region's): what the process allocates once, on first
    # use (allocator arenas, codec contexts), is not what this answer costs.
    manifest = json.loads((server.lake / "manifests" / f"snapshot-{snapshot}.json").read_text())
    regional = min((f for f in manifest["files"] if f["kind"] == "regional"), key=lambda f: f["bytes"])
    assert server.get(f"/api/snapshots/{snapshot}/files/{regional['path']}", token).status == 200
    server.get("/health")
    before = memory_kib(server, "VmHWM")
    response = server.get(f"/api/snapshots/{snapshot}/files/{file['path']}", token)
    growth = (memory_kib(server, "VmHWM") - before) * 1024
    assert response.status == 200, response.text
    assert response.headers.get("Transfer-Encoding") == "chunked"
    sent = pq.ParquetFile(io.BytesIO(response.body))
    table = sent.read()
    assert table.num_rows == on_disk.num_rows == file["rows"]
    assert set(table.column_names) < set(on_disk.column_names)
    for restricted in ("bankrekeningnummer", "betaalwijze"):
        assert restricted in on_disk.column_names and restricted not in table.column_names
    assert table.column("member_id").to_pylist() == on_disk.column("member_id").to_pylist()
    assert sent.metadata.num_row_groups >= 2  # written a row group at a time
    # Read 4,096 rows at a time through a small buffer per column and written a row group a piece,
    # with jemalloc (or the system allocator) instead of Arrow's default pool: measured ~22 MB
    # (8,192 rows a batch: ~30 MB; with Arrow's default pool and pre-buffering ~85 MB; reading the
    # whole table and writing the file in memory, over 200 MB).
    stored = pq.ParquetFile(server.lake / file["path"]).metadata
    row_group = max(stored.row_group(i).total_byte_size for i in range(stored.num_row_groups))
    print(f"peak RSS growth: {growth / 1e6:.1f} MB for {len(response.body) / 1e6:.1f} MB sent; "
          f"largest stored row group {row_group / 1e6:.1f} MB")
    assert growth < row_group + (28 << 20), f"peak memory grew by {growth} bytes; largest row group {row_group}"


LABELS = "member_id,korte_naam,straat,postcode,woonplaats,land"


def test_a_large_pdf_is_streamed_valid_and_does_not_grow_the_server(server, tmp_path):
    """Address labels of every member (over 4,000 sheets): written sheet by sheet as they are
    laid out, the cross-reference table at the end; read back by pypdf and poppler's pdftotext.
    The peak memory it costs is compared with that of a 100-member PDF of the same query."""
    token = admin(server)
    params = {"select": LABELS, "order_by": "member_id"}
    reference = server.get("/api/query", token, params={**params, "format": "parquet"})  # the query, cached
    assert reference.status == 200, reference.text
    names = pq.read_table(io.BytesIO(reference.body)).column("korte_naam").to_pylist()
    assert len(names) > 90_000

    def growth(extra):
        server.get("/health")
        before = memory_kib(server, "VmHWM")
        answer = server.get("/api/query", token, params={**params, **extra, "format": "pdf"})
        assert answer.status == 200, answer.text
        return (memory_kib(server, "VmHWM") - before) * 1024, answer

    small_growth, _ = growth({"limit": "100"})
    large_growth, large = growth({})
    assert large.headers.get("Transfer-Encoding") == "chunked"
    assert large.headers.get("Content-Type") == "application/pdf"
    body = large.body
    assert len(body) > 10 << 20, f"the PDF should be large: {len(body)} bytes"
    assert body.startswith(b"%PDF-1.4") and body.endswith(b"%%EOF\n")
    reader = pypdf.PdfReader(io.BytesIO(body), strict=True)  # the xref offsets must be exact
    assert len(reader.pages) == (len(names) + 23) // 24
    assert body.count(b" Tj\n") == len(names)  # one label per member
    first, last = reader.pages[0].extract_text(), reader.pages[-1].extract_text()
    assert names[0].strip()[:20] in first and names[-1].strip()[:20] in last
    pdf = tmp_path / "labels.pdf"
    pdf.write_bytes(body)
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "2", str(pdf), "-"], capture_output=True,
                          text=True, check=True, timeout=120)
    assert "Syntax Error" not in text.stderr and names[1].strip()[:20] in text.stdout
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True, timeout=120)
    assert "Syntax Error" not in info.stderr
    assert re.search(rf"^Pages:\s+{len(reader.pages)}$", info.stdout, re.M), info.stdout
    # Laid out whole, as before, the document's text was in memory three times over.
    print(f"peak RSS growth: {large_growth / 1e6:.1f} MB for a {len(body) / 1e6:.1f} MB PDF, "
          f"{small_growth / 1e6:.1f} MB for 100 labels")
    assert large_growth < small_growth + max(16 << 20, len(body) // 4), \
        f"peak memory grew by {large_growth} bytes for a {len(body)}-byte PDF ({small_growth} for 100 labels)"


def cache_hits(server):
    text = server.get("/metrics", METRICS_TOKEN).text
    return float(next(line.split()[-1] for line in text.splitlines()
                      if line.startswith("memberlake_response_cache_hits_total")))


def test_a_repeated_streamed_export_is_served_from_the_answer_cache(server):
    """An export streams; what it streamed is kept when it is within cache_entry_bytes (default
    4 MiB) and complete, so the same request again is a cache hit with the same bytes. A larger
    one is not kept."""
    token = admin(server)
    params = {"select": "member_id,lidnummer,regio", "region": "Utrecht", "order_by": "member_id", "format": "csv"}
    hits = cache_hits(server)
    first = server.get("/api/query", token, params=params)
    assert first.status == 200 and first.headers.get("Transfer-Encoding") == "chunked", first.text
    assert 10_000 < len(first.body) < 4 << 20
    assert cache_hits(server) == hits
    second = server.get("/api/query", token, params=params)
    assert second.status == 200
    assert cache_hits(server) == hits + 1, "the repeated export was not served from the cache"
    assert second.body == first.body
    assert second.headers.get("Content-Length") == str(len(first.body))
    for header in ("Content-Disposition", "ETag", "X-Total-Count"):
        assert second.headers.get(header) == first.headers.get(header), header
    # Every member (over 4 MiB of CSV): streamed again each time, never kept.
    everyone = {k: v for k, v in params.items() if k != "region"}
    big = server.get("/api/query", token, params=everyone)
    assert big.status == 200 and len(big.body) > 4 << 20
    hits = cache_hits(server)
    again = server.get("/api/query", token, params=everyone)
    assert again.body == big.body and again.headers.get("Transfer-Encoding") == "chunked"
    assert cache_hits(server) == hits


def test_an_export_whose_client_stopped_reading_is_not_kept(server):
    """A stream cut off (the client took nothing for write_stall_seconds) never reached its
    end: the next identical request is computed again (a miss), then kept."""
    token = admin(server)
    params = {"select": "member_id,lidnummer", "order_by": "lidnummer", "limit": "70000", "format": "csv"}
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect((host, int(port)))
    client.settimeout(60)
    with client:
        client.sendall((f"GET /api/query?{urllib.parse.urlencode(params)} HTTP/1.1\r\nHost: {host}\r\n"
                        f"Authorization: Bearer {token}\r\n\r\n").encode())
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(STALL_SECONDS + 3)  # reads nothing more: the server gives up on it
    hits = cache_hits(server)
    whole = server.get("/api/query", token, params=params)
    assert whole.status == 200 and 1 << 20 < len(whole.body) < 4 << 20
    assert whole.headers.get("Transfer-Encoding") == "chunked"
    assert cache_hits(server) == hits, "the cut-off stream was kept"
    again = server.get("/api/query", token, params=params)
    assert again.body == whole.body and cache_hits(server) == hits + 1


def slow_download(server, snapshot, file, results, index, rate=1 << 20, stop_after=None):
    """Reads a download at about `rate` bytes a second; records (bytes, clean end)."""
    client, received = open_download(server, snapshot, file, close=True)
    total = len(received)
    tail = received[-5:]
    started = time.monotonic()
    with client:
        while chunk := client.recv(32 * 1024):
            total += len(chunk)
            tail = (tail + chunk)[-5:]
            if stop_after and total >= stop_after:
                break
            ahead = total / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    results[index] = (total, tail == b"0\r\n\r\n")


def test_slow_downloads_hold_no_worker(server):
    """Twice as many slow downloads as workers: requests of other clients meanwhile are answered
    at once (before, each download held a worker until its last byte was taken)."""
    snapshot, file = full_file(server)
    size = file["bytes"]
    token = server.keys.hs256(["Members_Read", "Regio_All"])
    member_id = server.get("/api/members", token, params={"limit": 1}).json()["rows"][0]["member_id"]
    results = {}
    downloads = [threading.Thread(target=slow_download, args=(server, snapshot, file, results, i),
                                  kwargs={"stop_after": None if i == 0 else size // 2}) for i in range(2 * WORKERS)]
    for thread in downloads:
        thread.start()
    time.sleep(1.0)  # every download is under way, its socket full
    assert all(thread.is_alive() for thread in downloads), "the downloads should take several seconds"
    latencies = []

    def client():
        for i in range(15):
            start = time.monotonic()
            response = server.get("/health") if i % 2 else server.get(f"/api/members/{member_id}", token)
            latencies.append(time.monotonic() - start)
            assert response.status == 200

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    still_downloading = sum(thread.is_alive() for thread in downloads)
    for thread in downloads:
        thread.join(timeout=120)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    assert still_downloading == len(downloads), "the downloads should outlast the other clients' requests"
    assert p99 < 1.0, f"p99 {p99:.3f} s with {len(downloads)} slow downloads and {WORKERS} workers"
    assert results[0] == (results[0][0], True) and results[0][0] > size  # the slow one ends cleanly


def test_a_client_that_stops_reading_is_cut_off_after_the_stall_time(server):
    snapshot, file = full_file(server)
    size = file["bytes"]
    client, received = open_download(server, snapshot, file, close=False)  # keep-alive: only a close ends it
    with client:
        time.sleep(STALL_SECONDS + 4)  # buffers fill, then nothing is taken for the stall time
        client.settimeout(10)
        try:
            while chunk := client.recv(1 << 20):
                received += chunk
        except ConnectionResetError:
            pass
    assert len(received) < size, "the whole file arrived: the stalled client was not cut off"
    assert not received.endswith(b"0\r\n\r\n")
    logged = last_logged(server, file)
    assert logged["status"] == 200 and 0 < logged["bytes"] < size
