#!/usr/bin/env bash
# Start the gateway for development. Without OPENROUTER_API_KEY it also starts the bundled OpenRouter
# stand-in on loopback and points the gateway at it (the gateway logs loudly that it is a stand-in).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p .run

if [ ! -f .env ]; then
  echo "GATEWAY_ENV=development" > .env
  echo "JWT_SECRET_KEY=$($BIN/python -c 'import secrets; print(secrets.token_urlsafe(48))')" >> .env
  echo "Wrote .env with a development JWT secret."
fi
set -a; . ./.env; set +a
export GATEWAY_ENV="${GATEWAY_ENV:-development}" LOG_FORMAT="${LOG_FORMAT:-text}"
PORT="${PORT:-8000}"; export PORT

if [ -z "${OPENROUTER_API_KEY:-}" ]; then
  MOCK_PORT="${MOCK_PORT:-8081}"
  export OPENROUTER_API_KEY="sk-or-v1-dev-stand-in" OPENROUTER_BASE_URL="http://127.0.0.1:${MOCK_PORT}/api/v1"
  $BIN/python -m openrouter_mock --port "$MOCK_PORT" --api-key "$OPENROUTER_API_KEY" > .run/stand-in.log 2>&1 &
  MOCK_PID=$!
  trap 'kill $MOCK_PID 2>/dev/null || true' EXIT INT TERM
  echo "*** No OPENROUTER_API_KEY: using the bundled OpenRouter STAND-IN at $OPENROUTER_BASE_URL ***"
fi

TOKEN=$($BIN/flask --app app mint-token --sub dev-user --ttl 86400)
cat <<MSG

Gateway: http://127.0.0.1:${PORT}/api/v2/openrouter   (docs: /api/v2/openrouter/docs)
Development token (24 h): ${TOKEN}

Try:
curl -s http://127.0.0.1:${PORT}/api/v2/openrouter/chat/completions \\
  -H "Authorization: Bearer ${TOKEN}" -H "Content-Type: application/json" \\
  -d '{"model": "anthropic/claude-sonnet-4.5", "messages": [{"role": "user", "content": "Hello"}]}'

MSG
$BIN/gunicorn -c gunicorn.conf.py
