#!/usr/bin/env python3
"""Dashboard benchmark: time to interactive of the overview and of the member list on a lake
of N members (default 1,000,000), measured in Debian's Chromium through Playwright, and the
bytes each view transfers (every response body, compressed or not, as the browser got it).
Prints figures only.

    .venv/bin/python bench/dashboard_bench.py [--members 1000000] [--lake DIR --store URI]

"Interactive" is the moment the view's figures are on screen and its controls answer: from
navigation start (a fresh page, credential already in sessionStorage) to the view's table
being rendered. Cold: the first visit after the server started (its caches empty); warm: the
second visit (the server's result cache holds the aggregates, the browser its bundle).
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
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from dashboard_support import CHROMIUM, CHROMIUM_ARGS, WEB_DIST, free_port  # noqa: E402

BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))
AS_OF = "2026-01-07"

VIEWS = [("overzicht", "#/", "[data-testid=status-table]"),
         ("leden", "#/leden", "[data-testid=members-table] tbody tr"),
         ("leden, zoeken", "#/leden?q=Jan&in=voornaam&status=Actief", "[data-testid=members-table] tbody tr"),
         ("regio's", "#/regio", "[data-testid=regions-table]"),
         ("verdeling", "#/verdeling", "[data-testid=membership-distribution] table")]


def run(*args):
    out = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{args}: {out.stderr}")
    return out.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--dir", help="working folder (kept); default: a temporary one")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(args.dir or tempfile.mkdtemp(prefix="dashboard-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    store, lake = f"sqlite:{work / 'members.db'}", work / "lake"
    if not (work / "members.db").exists():
        t = time.perf_counter()
        run("seed", "--store", store, "--members", args.members, "--seed", 1)
        run("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
        print(f"seeded and generated {args.members:,} members in {time.perf_counter() - t:.0f} s")
    keys = work / "api_keys.toml"
    keys.write_text("# bench\n")
    key = run("apikey", "create", "--name", "bench", "--group", "Members_CRUD", "--group", "Regio_All",
              "--file", keys).strip()
    config = work / "server.toml"
    config.write_text(f'[server]\nport = {free_port()}\nthreads = 4\naccess_log = ""\nweb_root = "{WEB_DIST}"\n'
                      f'[data]\nstore = "{store}"\nlake = "{lake}"\nas_of = "{AS_OF}"\n'
                      f'[auth]\napi_keys_file = "{keys}"\n')
    server = subprocess.Popen([BIN, "serve", "--config", str(config)], stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip().split()[-1]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            first = []

            def record_first(request):
                first.append(request.sizes()["responseBodySize"])
            page.on("requestfinished", record_first)
            page.goto(url + "/")
            page.wait_for_load_state("networkidle")
            page.remove_listener("requestfinished", record_first)
            print(f"first load of the dashboard (index.html, bundle, stylesheet; then cached): {sum(first):,} bytes "
                  f"in {len(first)} requests")
            page.evaluate("k => sessionStorage.setItem('memberlake.credential', JSON.stringify({kind: 'apikey', value: k}))", key)
            print(f"{'view':<16}{'visit':<7}{'interactive':>13}{'bytes':>12}{'requests':>10}")
            for name, hash_, ready in VIEWS:
                for visit in ("cold", "warm"):
                    sizes = []

                    def record(request, sizes=sizes):
                        sizes.append(request.sizes()["responseBodySize"])
                    page.on("requestfinished", record)
                    page.goto("about:blank")
                    start = time.perf_counter()
                    page.goto(url + "/" + hash_)
                    page.wait_for_selector(ready, timeout=120000)
                    page.wait_for_function("() => !document.querySelector('main[aria-busy]')")
                    elapsed = time.perf_counter() - start
                    page.wait_for_timeout(200)
                    page.remove_listener("requestfinished", record)
                    print(f"{name:<16}{visit:<7}{elapsed * 1000:>10.0f} ms{sum(sizes):>12,}{len(sizes):>10}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(json.dumps({"members": args.members, "work": str(work)}))


if __name__ == "__main__":
    main()
