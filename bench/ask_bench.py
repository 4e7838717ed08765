#!/usr/bin/env python3
"""AI question benchmark (issue 14): memberlake's own time from question to answer against the
scripted fake model (tests/integration/fake_llm.py, so the model's own time is near zero and
what is measured is memberlake: prompt building, the HTTP round trips, the tool queries on the
lake, suppression, audit), and what is sent to the model per question (bytes of every request
body and tokens, 4 bytes a token as the fake counts them).

Three typical questions, each scripted as a model would play it: one or two tool calls, then
an answer. Each is asked through `memberlake ask --json` (a new process per question, as a
volunteer would run it) `--runs` times; the figures are medians.

Usage: .venv/bin/python bench/ask_bench.py [--members 20000] [--runs 5] [--workdir DIR]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("MEMBERLAKE_BIN", str(ROOT / "build" / "memberlake"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from fake_llm import FakeLlm  # noqa: E402

QUESTIONS = [
    ("How many active members does each region have?",
     [[("run_query", {"where": ["status=Actief"], "group_by": ["regio"]})]]),
    ("How did the age of our Utrecht members change since 2020?",
     [[("run_query", {"where": ["status=Actief", "regio=Utrecht"], "group_by": ["aanmeldingsjaar"],
                      "aggregates": ["count", "avg(leeftijd)", "median(leeftijd)"], "order_by": ["aanmeldingsjaar"]})],
      [("run_report", {"name": "age-distribution"})]]),
    ("Which regions lose the most members in their first two years?",
     [[("run_query", {"where": ["status=Opgezegd", "jaren_lid<=2"], "group_by": ["regio"], "order_by": ["count:desc"]}),
       ("run_query", {"where": ["jaren_lid<=2"], "group_by": ["regio", "status"]})]]),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    fake = FakeLlm()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.workdir or tmp)
            work.mkdir(parents=True, exist_ok=True)
            db, lake = work / f"ask{args.members}.db", work / f"asklake{args.members}"
            if not db.exists():
                subprocess.run([BIN, "seed", "--store", f"sqlite:{db}", "--members", str(args.members)], check=True,
                               capture_output=True)
            if not (lake / "manifests" / "CURRENT").exists():
                subprocess.run([BIN, "generate", "--store", f"sqlite:{db}", "--lake", str(lake), "--as-of",
                                "2026-01-07"], check=True, capture_output=True)
            env = dict(os.environ, MEMBERLAKE_BENCH_AI_KEY="bench-key")
            print(f"{args.members} members, {args.runs} runs per question, medians")
            print(f"{'question':<62} {'wall ms':>8} {'own ms':>7} {'model ms':>8} {'calls':>5} {'bytes sent':>10} "
                  f"{'tokens':>7}")
            for question, turns in QUESTIONS:
                wall, own, model, sent, tokens, calls = [], [], [], [], [], 0
                for _ in range(args.runs):
                    fake.script(*[{"tool_calls": turn} for turn in turns], {"content": "An answer of some length, "
                                                                                       "naming the figures used."})
                    started = time.perf_counter()
                    proc = subprocess.run([BIN, "ask", "--lake", str(lake), "--base-url", fake.url, "--model", "fake",
                                           "--api-key-env", "MEMBERLAKE_BENCH_AI_KEY", "--audit",
                                           str(work / "audit.log"), "--daily-tokens", "100000000", "--json",
                                           question], capture_output=True, text=True, env=env)
                    wall.append((time.perf_counter() - started) * 1000)
                    assert proc.returncode == 0, proc.stderr
                    answer = json.loads(proc.stdout)
                    own.append(answer["elapsed_ms"] - answer["model_ms"])
                    model.append(answer["model_ms"])
                    sent.append(sum(len(r["body"]) for r in fake.requests))
                    tokens.append(answer["tokens"]["prompt"])
                    calls = answer["rounds"]
                print(f"{question:<62} {statistics.median(wall):8.0f} {statistics.median(own):7.0f} "
                      f"{statistics.median(model):8.0f} {calls:5d} {statistics.median(sent):10.0f} "
                      f"{statistics.median(tokens):7.0f}")
            print("wall: process start to exit; own: question to answer minus the time waiting for the model "
                  "(which includes the local HTTP round trips); tokens: prompt tokens of all calls")
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
