#!/usr/bin/env bash
# The main job on the embedded default: installs and builds what is missing (the dashboard's
# bundle too), creates a sample SQLite store under var/ if there is none, generates the lake,
# then serves the dashboard on it until Ctrl-C: it prints the address and a local sign-in key.
# A new key each run replaces the previous one (var/quickstart_api_keys.toml keeps its hash only).
# QUICKSTART_NO_SERVE=1 stops after the generation (for scripts); QUICKSTART_PORT (default 8080).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/bootstrap.sh release
build/memberlake demo --dir "$ROOT/var" "$@"
[ "${QUICKSTART_NO_SERVE:-0}" = 1 ] && exit 0

PORT="${QUICKSTART_PORT:-8080}"
KEYS="$ROOT/var/quickstart_api_keys.toml"
echo "# memberlake quickstart: the sign-in key of the last run (its SHA-256 hash only)" > "$KEYS.new"
KEY="$(build/memberlake apikey create --name quickstart --group System_CRUD --file "$KEYS.new")"
mv "$KEYS.new" "$KEYS"
cat > "$ROOT/var/quickstart_server.toml" <<TOML
# Written by scripts/quickstart.sh on every run (see config/server.example.toml for all settings).
[server]
listen = "127.0.0.1"
port = $PORT
threads = 4
access_log = ""
web_root = "../web/dist"

[data]
store = "sqlite:members.db"
lake = "lake"

[auth]
api_keys_file = "quickstart_api_keys.toml"
TOML
cat <<MSG

  Het dashboard:        http://127.0.0.1:$PORT/
  Inloggen met sleutel: $KEY
  (alleen voor dit apparaat; elke run maakt een nieuwe sleutel. Stoppen: Ctrl-C)

MSG
exec build/memberlake serve --config "$ROOT/var/quickstart_server.toml"
