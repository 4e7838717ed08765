#!/usr/bin/env bash
# Packs build/lambda/ for deploy/template.yaml: the memberlake binary, the Arrow libraries it
# links (from the pinned pyarrow wheel) and the custom-runtime `bootstrap`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh" release
OUT="$ROOT/build/lambda"
rm -rf "$OUT" && mkdir -p "$OUT/lib"
cp "$ROOT/build/memberlake" "$OUT/"
ldd "$ROOT/build/memberlake" | awk '/=> \// {print $3}' | grep -E 'pyarrow|libcurl|libsqlite3|libxlsxwriter|libcpp-httplib' |
  while read -r lib; do cp -L "$lib" "$OUT/lib/"; done
cat > "$OUT/bootstrap" <<'SH'
#!/bin/sh
export LD_LIBRARY_PATH="$LAMBDA_TASK_ROOT/lib:$LD_LIBRARY_PATH"
exec "$LAMBDA_TASK_ROOT/memberlake" lambda
SH
chmod +x "$OUT/bootstrap"
echo "packed $OUT"
