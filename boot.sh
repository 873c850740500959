#!/bin/sh
# Start chatapp in production: apply the migrations once, then replace this shell with gunicorn.
# On Neon, set MIGRATION_DATABASE_URL to the direct (non -pooler) URL: migrations want a session
# of their own, which the transaction pooler does not keep. Extra arguments go to gunicorn.
# flask and gunicorn come from $VENV/bin when VENV is set, else from .venv/bin when there is one
# (make install), else from PATH (platforms that pip install into their own environment).
set -eu
cd "$(dirname "$0")"
if [ -n "${VENV:-}" ]; then
  BIN="$VENV/bin/"
elif [ -x .venv/bin/gunicorn ]; then
  BIN=.venv/bin/
else
  BIN=
fi

if [ -n "${MIGRATION_DATABASE_URL:-}" ]; then
  DATABASE_URL="$MIGRATION_DATABASE_URL" "${BIN}flask" --app wsgi db upgrade
else
  "${BIN}flask" --app wsgi db upgrade
fi
exec "${BIN}gunicorn" wsgi:app -c gunicorn.conf.py "$@"
