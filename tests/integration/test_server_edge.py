"""The HTTP edge under hostile traffic, against a real `memberlake serve`: idle and slow-header
floods, header deadlines a trickle cannot extend, connection caps, body limits for every framing
(chunked too, with and without credentials) with the server's memory checked, POST without a
Content-Length, the processing timeout, the edge's own JSON errors and their access-log actor,
and a graceful stop with connections open."""
import http.client
import json
import resource
import socket
import threading
import time
import urllib.parse

import pytest

from server_support import start_server

TRICKLE = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"


def setup_module():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


def address(server):
    parsed = urllib.parse.urlparse(server.url)
    return parsed.hostname, parsed.port


def connect(server, timeout=10):
    sock = socket.create_connection(address(server), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_response(sock):
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def exchange(sock, raw: bytes):
    sock.sendall(raw)
    return read_response(sock)


def closed_by_peer(sock, wait=5.0):
    """True when the server closes the connection (EOF or reset) within `wait` seconds; whatever
    it sent before closing is read and dropped."""
    sock.settimeout(wait)
    try:
        while sock.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def vm(server, field):
    for line in open(f"/proc/{server.proc.pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(field)


def access_entries(server):
    return [json.loads(line) for line in (server.base / "access.log").read_text().splitlines()]


def timed_get(server, path, token):
    start = time.monotonic()
    response = server.get(path, token)
    return response, time.monotonic() - start


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    server = start_server(tmp_path_factory, members=800, seed=21, server_extra="""
header_timeout_seconds = 4
read_timeout_seconds = 4
max_connections_per_client = 3000
max_connections = 3000
metrics_allow = ["127.0.0.2/32", "::1/128"]
""")
    yield server
    if server.proc.poll() is None:
        assert server.stop() == 0


def reader(server):
    return server.keys.hs256(["Members_Read", "Regio_All"])


def test_idle_and_slow_header_connections_do_not_starve_requests_and_trickles_are_cut(edge):
    token = reader(edge)
    member_id = edge.get("/api/members", token, params={"limit": 1}).json()["rows"][0]["member_id"]
    idle = [connect(edge) for _ in range(1000)]
    for sock in idle[:50]:  # idle between keep-alive requests: that must not hold a worker either
        assert exchange(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200
    slow = [connect(edge) for _ in range(100)]
    opened = time.monotonic()
    cut_after = {}
    stop = threading.Event()

    def trickle():
        position = 0
        while not stop.is_set() and len(cut_after) < len(slow) and position < len(TRICKLE):
            for i, sock in enumerate(slow):
                if i in cut_after:
                    continue
                try:
                    sock.send(TRICKLE[position:position + 1])
                except OSError:
                    cut_after[i] = time.monotonic() - opened
            position += 1
            time.sleep(0.5)

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        time.sleep(1.0)  # every slow connection is mid-header now
        for path in ("/health", f"/api/members/{member_id}"):
            for _ in range(3):
                response, seconds = timed_get(edge, path, token)
                assert response.status == 200, response.text
                assert seconds < 2.0, f"{path} took {seconds:.2f} s with 1,000 idle and 100 slow connections open"
        # The trickles are answered 408 and closed at the 4 s header deadline, although each sent a
        # byte every 0.5 s (the whole header would take ~115 s).
        for i, sock in enumerate(slow):
            sock.settimeout(8)
            data = b""
            try:
                while chunk := sock.recv(4096):
                    data += chunk
            except (ConnectionResetError, socket.timeout):
                pass
            cut_after.setdefault(i, time.monotonic() - opened)
            assert data.startswith(b"HTTP/1.1 408"), data[:100]
            assert b'"status":408' in data
        assert max(cut_after.values()) < 7.5, sorted(cut_after.values())[-5:]
        assert min(cut_after.values()) > 3.0, sorted(cut_after.values())[:5]
        # Idle connections that never sent a byte are closed at the same deadline.
        assert all(closed_by_peer(sock, wait=6) for sock in idle[:20])
    finally:
        stop.set()
        thread.join()
        for sock in idle + slow:
            sock.close()


@pytest.mark.parametrize("credentials", [False, True], ids=["anonymous", "authenticated"])
def test_chunked_body_over_the_limit_is_413_before_it_is_buffered(edge, credentials):
    auth = f"Authorization: Bearer {edge.keys.hs256(['Members_CRUD', 'Regio_Utrecht'])}\r\n" if credentials else ""
    peak_before = vm(edge, "VmHWM")
    sock = connect(edge, timeout=20)
    sock.sendall(f"POST /api/members HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"%x\r\n" % (1 << 20) + b" " * (1 << 20) + b"\r\n"
    sent = [0]

    def upload():  # 300 MB, or until the server stops taking it
        try:
            while sent[0] < 300 << 20:
                sock.sendall(chunk)
                sent[0] += 1 << 20
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass

    thread = threading.Thread(target=upload)
    thread.start()
    status, headers, body = read_response(sock)
    thread.join(timeout=30)
    assert not thread.is_alive(), "the server kept reading the oversized body"
    sock.close()
    assert status == 413
    assert headers["connection"] == "close"
    assert json.loads(body)["error"]["status"] == 413
    assert sent[0] < 100 << 20, f"the server read {sent[0] >> 20} MB of a body limited to 64 KB"
    # Relative to the peak before, so it holds for sanitizer builds too (their baseline is large).
    growth = vm(edge, "VmHWM") - peak_before
    assert growth < 64 << 20, f"the server's peak RSS grew by {growth >> 20} MB during a 300 MB upload"
    assert edge.get("/health").status == 200


def test_declared_oversize_body_is_413_without_waiting_for_it(edge):
    sock = connect(edge)
    status, headers, body = exchange(sock, b"POST /api/members HTTP/1.1\r\nHost: x\r\nContent-Length: 314572800\r\n"
                                           b"Expect: 100-continue\r\n\r\n")
    assert status == 413 and json.loads(body)["error"]["status"] == 413
    sock.close()


def test_post_without_content_length_has_an_empty_body(edge):
    token = edge.keys.hs256(["Members_CRUD", "Regio_All"])
    sock = connect(edge)
    status, _, body = exchange(sock, f"POST /api/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
                               .encode())
    assert status == 202, body
    job = json.loads(body)["job_id"]
    # Same connection, next request: nothing of the first was mistaken for a body.
    status, _, body = exchange(sock, f"GET /api/jobs/{job} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
                               .encode())
    assert status == 200 and json.loads(body)["job_id"] == job
    sock.close()


@pytest.mark.parametrize("raw,status", [
    (b"POST /api/members HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 40000 + b"\r\n\r\n", 431),
    (b"GET /health?q=" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"TRACE /health HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 404),
], ids=["413", "431", "414", "405", "400", "404"])
def test_edge_errors_are_json_and_logged_without_the_previous_caller(edge, raw, status):
    token = reader(edge)
    sock = connect(edge)
    first, _, _ = exchange(sock, f"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    assert first == 200
    got, headers, body = exchange(sock, raw)
    sock.close()
    assert got == status
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["status"] == status
    time.sleep(0.2)
    entries = access_entries(edge)
    mine = [e for e in entries if e["status"] == status][-1]
    before = entries[entries.index(mine) - 1]
    assert before["path"] == "/api/me" and before["actor"], before
    assert mine["actor"] == "", mine
    assert set(mine) == {"time", "remote", "method", "path", "status", "bytes", "ms", "actor"}


def test_head_gets_the_headers_of_get_without_a_body(edge):
    sock = connect(edge)
    status, headers, body = exchange(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.sendall(b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
    head = http.client.HTTPResponse(sock, method="HEAD")
    head.begin()
    assert status == head.status == 200
    assert int(head.getheader("Content-Length")) == len(body) > 0
    assert head.read() == b""
    # The connection is still in step: the next answer is a whole response, not a stray body.
    assert exchange(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")[2] == body
    sock.close()


def test_query_parameters_are_decoded_and_options_reaches_the_service(edge):
    token = reader(edge)
    sock = connect(edge)
    status, _, body = exchange(sock, f"GET /api/members?limit=2&region=Groningen%2FDrenthe&select=voornaam&select=regio "
                               f"HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    assert status == 200, body
    rows = json.loads(body)["rows"]
    assert rows and all(row["regio"] == "Groningen/Drenthe" and {"voornaam", "regio"} <= set(row) for row in rows)
    status, _, _ = exchange(sock, b"OPTIONS /api/members HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.close()
    time.sleep(0.2)
    assert access_entries(edge)[-1]["method"] == "OPTIONS"
    assert access_entries(edge)[-1]["status"] == status


@pytest.mark.parametrize("path,allowed", [
    ("/health", "GET, HEAD, OPTIONS"), ("/ready", "GET, HEAD, OPTIONS"), ("/metrics", "GET, HEAD, OPTIONS"),
    ("/api/openapi.json", "GET, HEAD, OPTIONS"), ("/api/members", "GET, HEAD, POST, OPTIONS"),
    ("/api/members/0b5e3a52-1c1d-4f43-9d0a-2f7d3c1e9a10", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
    ("/api/generate", "POST, OPTIONS"), ("/api/query", "GET, HEAD, OPTIONS")])
def test_options_and_405_name_the_methods_of_the_path(edge, path, allowed):
    options = edge.request("OPTIONS", path)
    assert options.status == 204 and options.headers.get("Allow") == allowed
    documented = json.loads(edge.get("/api/openapi.json").body)["paths"]
    template = next(p for p in documented if p == path or (p.endswith("{id}") and path.startswith(p[:-4])))
    methods = {m.upper() for m in documented[template] if m != "parameters"}
    assert methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set()) == {m.strip() for m in allowed.split(",")}
    refused_method = "DELETE" if "DELETE" not in allowed else "POST"
    refused = edge.request(refused_method, path, reader(edge))
    assert refused.status == 405, refused.text
    assert refused.headers.get("Allow") == allowed
    assert json.loads(refused.body)["error"]["status"] == 405
    with connect(edge) as sock:  # a method the service never sees: the edge answers it alike
        status, headers, _ = exchange(sock, f"TRACE {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 405 and headers["allow"] == allowed
    assert edge.request("OPTIONS", "/no/such/route").status == 404


def metrics_from(server, source, token=None):
    """GET /metrics over a connection from the local address `source`."""
    host, port = address(server)
    connection = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
    connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    assert response.status == 200
    return body


def test_metrics_totals_only_for_an_allowed_address_or_the_token(edge):
    from server_support import METRICS_TOKEN
    untrusted = metrics_from(edge, "127.0.0.1")
    assert "memberlake_http_requests_total" in untrusted
    assert "memberlake_snapshot_members" not in untrusted and "memberlake_live_data_version" not in untrusted
    trusted = metrics_from(edge, "127.0.0.2")  # in server.metrics_allow
    assert "memberlake_snapshot_members" in trusted and "memberlake_live_data_version" in trusted
    assert "memberlake_snapshot_members" not in metrics_from(edge, "127.0.0.3")
    assert "memberlake_snapshot_members" in metrics_from(edge, "127.0.0.1", METRICS_TOKEN)
    assert "memberlake_snapshot_members" not in metrics_from(edge, "127.0.0.1", METRICS_TOKEN[:-1] + "x")


@pytest.mark.parametrize("limits", ["max_connections_per_client = 5", "max_connections = 5"])
def test_connections_over_the_cap_get_503_and_are_closed(tmp_path_factory, limits):
    server = start_server(tmp_path_factory, members=200, seed=22, server_extra=limits)
    try:
        held = [connect(server) for _ in range(5)]
        time.sleep(0.3)
        extra = connect(server)
        status, headers, body = read_response(extra)
        assert status == 503 and headers["connection"] == "close"
        assert "too many connections" in json.loads(body)["error"]["message"]
        assert closed_by_peer(extra)
        held.pop().close()
        time.sleep(0.3)
        assert server.get("/health").status == 200
        for sock in held:
            sock.close()
    finally:
        assert server.stop() == 0


def test_processing_timeout_answers_503_and_drops_the_late_result(tmp_path_factory):
    # One worker and a queue of distinct (uncached) queries, each computed afresh and answered
    # with 4,000 rows (a JSON page built whole, not streamed): however fast the machine, a
    # hundred of them take far longer than the 2 s allowed from the moment a request was read,
    # so the later ones time out while the first ones are answered.
    server = start_server(tmp_path_factory, members=12000, seed=24, server_extra="threads = 1\nrequest_timeout_seconds = 2")
    token = reader(server)
    results = []

    def query(floor):
        start = time.monotonic()
        response = server.get("/api/query", token, params={"limit": 4000, "where": f"lidnummer>={floor}"})
        results.append((response.status, response.body, time.monotonic() - start))

    try:
        threads = [threading.Thread(target=query, args=(i,)) for i in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted({status for status, _, _ in results})
        assert statuses == [200, 503], statuses
        for status, body, seconds in results:
            if status == 503:
                message = json.loads(body)["error"]["message"]
                assert "request_timeout_seconds" in message, message
                assert seconds < 5, seconds
            else:
                assert len(json.loads(body)["rows"]) == 4000
        # Requests that timed out while queued were not run: the worker is free again at once.
        assert server.get("/health").status == 200
    finally:
        assert server.stop() == 0
    logged = [e for e in access_entries(server) if e["path"] == "/api/query"]
    assert sorted(e["status"] for e in logged) == sorted(status for status, _, _ in results)
    assert all(e["actor"] == "" for e in logged if e["status"] == 503)


def test_keep_alive_ends_after_the_configured_number_of_requests(tmp_path_factory):
    server = start_server(tmp_path_factory, members=200, seed=25, server_extra="keep_alive_max_requests = 3")
    try:
        sock = connect(server)
        answers = [exchange(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(3)]
        assert [status for status, _, _ in answers] == [200, 200, 200]
        assert [headers.get("connection", "keep-alive") for _, headers, _ in answers] == ["keep-alive", "keep-alive", "close"]
        assert closed_by_peer(sock)
        sock.close()
    finally:
        assert server.stop() == 0


def test_graceful_stop_with_idle_and_slow_connections_open(tmp_path_factory):
    server = start_server(tmp_path_factory, members=200, seed=23)
    token = reader(server)
    idle = [connect(server) for _ in range(50)]
    keep_alive = connect(server)
    assert exchange(keep_alive, f"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
                    .encode())[0] == 200
    start = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - start < 5, "idle connections held up the shutdown"
    assert closed_by_peer(keep_alive, wait=1)
    for sock in idle + [keep_alive]:
        sock.close()
    assert "server stopped" in server.proc.stderr.read()


def test_cached_answers_do_not_queue_behind_a_busy_worker_and_are_audited_alike(tmp_path_factory):
    # One worker, kept busy by a queue of distinct (uncached) 4,000-row queries. A member list
    # whose answer is cached is answered on the event loop (server.quick_answers) while that
    # queue is still long, with the body, audit entry and access-log actor of a worker's answer.
    server = start_server(tmp_path_factory, members=12000, seed=26, server_extra="threads = 1")
    token = reader(server)
    page = {"limit": 5, "order_by": "lidnummer"}
    first = server.get("/api/members", token, params=page)
    assert first.status == 200
    done = []

    def query(floor):
        response = server.get("/api/query", token, params={"limit": 4000, "where": f"lidnummer>={floor}"})
        done.append(response.status)

    try:
        queue = [threading.Thread(target=query, args=(i,)) for i in range(40)]
        for thread in queue:
            thread.start()
        time.sleep(0.2)  # the queries are read and queued for the one worker
        pending_when_answered = []
        for _ in range(10):
            cached = server.get("/api/members", token, params=page)
            pending_when_answered.append(len(queue) - len(done))
            assert cached.status == 200 and cached.body == first.body
        for thread in queue:
            thread.join()
        assert done.count(200) == len(queue)
        # A worker's queue would have held every cached request until the queries before it ran.
        assert min(pending_when_answered) > len(queue) // 2, pending_when_answered
        auditor = server.keys.hs256(["System_Logs_Read"])
        entries = server.get("/api/audit", auditor, params={"limit": 10000}).json()["entries"]
        assert sum(e["action"] == "member.list" for e in entries) == 11
        assert sum(e["action"] == "query.read" for e in entries) == len(queue)
    finally:
        assert server.stop() == 0
    lists = [e for e in access_entries(server) if e["path"] == "/api/members"]
    assert len(lists) == 11 and all(e["status"] == 200 for e in lists)
    assert len({e["actor"] for e in lists}) == 1 and lists[0]["actor"], lists
