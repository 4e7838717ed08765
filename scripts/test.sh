#!/usr/bin/env bash
# The whole test suite: installs what it needs (scripts/bootstrap.sh), builds, then runs the
# C++ unit tests (ctest), the same unit tests under AddressSanitizer + UBSan, and the
# integration tests (pytest: real SQLite files, Parquet read back by pyarrow and DuckDB).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/bootstrap.sh release
ctest --test-dir build --output-on-failure -j "$(nproc)"
if [ "${MEMBERLAKE_SKIP_ASAN:-0}" != 1 ]; then
  scripts/bootstrap.sh asan
  ASAN_OPTIONS=detect_leaks=0 ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
fi
if compgen -G "tests/integration/test_*.py" >/dev/null; then
  MEMBERLAKE_BIN="$ROOT/build/memberlake" .venv/bin/python -m pytest -q tests/integration
fi
