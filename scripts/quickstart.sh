#!/usr/bin/env bash
# The main job on the embedded default: installs and builds what is missing, creates a sample
# SQLite store under var/ if there is none, generates the lake and prints where everything is.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/bootstrap.sh release
exec build/memberlake demo --dir "$ROOT/var" "$@"
