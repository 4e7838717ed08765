#!/usr/bin/env bash
# The whole test suite: installs what it needs (scripts/bootstrap.sh), builds, then runs the
# C++ unit tests (ctest), the same unit tests under AddressSanitizer + UBSan, the concurrency
# tests under ThreadSanitizer, a short run of every fuzz target, and the integration tests
# (pytest: real SQLite files, Parquet read back by pyarrow and DuckDB, real servers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/bootstrap.sh release
ctest --test-dir build --output-on-failure -j "$(nproc)"
if [ "${MEMBERLAKE_SKIP_ASAN:-0}" != 1 ]; then
  scripts/bootstrap.sh asan
  ASAN_OPTIONS=detect_leaks=0 ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
fi
# ThreadSanitizer: the unit tests where threads meet (generation jobs beside readers, the API
# service generating while it answers, racing publishers, concurrent audit appends).
if [ "${MEMBERLAKE_SKIP_TSAN:-0}" != 1 ]; then
  scripts/bootstrap.sh tsan
  # Arrow allocates through libc here, so TSan sees its memory freed and reused (its own
  # allocator is not instrumented). Lock-order checking is off: locks taken inside the
  # uninstrumented libarrow would fill its per-thread table (see tests/tsan.supp).
  ARROW_DEFAULT_MEMORY_POOL=system TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp halt_on_error=1 detect_deadlocks=0" \
    build-tsan/memberlake_tests --gtest_brief=1 \
    --gtest_filter='ConcurrencyTest.*:ForEachRowGroup.*:SnapshotManifest.Racing*:SnapshotManifest.Publish*:AuditLogTest.Concurrent*'
fi
# Fuzzing (libFuzzer, ASan + UBSan): a short run of every target from its seed corpus; new
# inputs go to a scratch folder. A longer run: docs/fuzzing.md.
if [ "${MEMBERLAKE_SKIP_FUZZ:-0}" != 1 ]; then
  scripts/bootstrap.sh fuzz
  for target in build-fuzz/fuzz_*; do
    name="$(basename "$target")"; name="${name#fuzz_}"
    scratch="$(mktemp -d)"
    ASAN_OPTIONS=detect_leaks=0 "$target" -max_total_time="${MEMBERLAKE_FUZZ_SECONDS:-15}" -timeout=30 \
      -print_final_stats=0 "$scratch" "tests/fuzz/corpus/$name" 2>"$scratch.log" \
      || { tail -40 "$scratch.log"; echo "fuzz target $name failed (input kept in $scratch)"; exit 1; }
    echo "fuzz $name: $(grep -Eo 'Done [0-9]+ runs' "$scratch.log" | tail -1)"
    rm -rf "$scratch" "$scratch.log"
  done
fi
if compgen -G "tests/integration/test_*.py" >/dev/null; then
  MEMBERLAKE_BIN="$ROOT/build/memberlake" .venv/bin/python -m pytest -q tests/integration
fi
