#!/usr/bin/env bash
# Runs the whole test suite twice: on SQLite (the embedded default) and on PostgreSQL, each
# time on a fresh database that is dropped afterwards. PostgreSQL is found at
# FIRESIDE_TEST_PG (default postgresql+psycopg://postgres@127.0.0.1:5432); when it cannot be
# reached the PostgreSQL run is skipped with a warning, except under CI, where it is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PG_BASE="${FIRESIDE_TEST_PG:-postgresql+psycopg://postgres@127.0.0.1:5432}"

echo "== lint"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== tests on SQLite"
env -u FIRESIDE_TEST_DATABASE_URL "$PY" -m pytest -q -p no:cacheprovider "$@"

db="fireside_test_$(date +%s)_$$"
if "$PY" tools/testdb.py create "$PG_BASE" "$db"; then
  trap '"$PY" tools/testdb.py drop "$PG_BASE" "$db" || true' EXIT
  echo "== tests on PostgreSQL ($db)"
  FIRESIDE_TEST_DATABASE_URL="$PG_BASE/$db" "$PY" -m pytest -q -p no:cacheprovider "$@"
else
  if [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL is not reachable at $PG_BASE: CI needs it" >&2
    exit 1
  fi
  echo "WARNING: PostgreSQL not reachable at $PG_BASE; skipped the PostgreSQL run" >&2
fi
