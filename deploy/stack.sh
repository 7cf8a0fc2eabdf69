#!/usr/bin/env bash
# Start or stop the services as background processes (no Docker needed).
#   deploy/stack.sh up     start api, crawler, renderer, status (idempotent); wait until the API is ready
#   deploy/stack.sh down   stop them
# Logs: .local/logs/{api,crawler,renderer,status}.log   PIDs: .local/run/*.pid
# Development defaults: the API accepts the bearer token "dev-token" (tenant "dev") and the
# crawler and the renderer may fetch loopback addresses (127.0.0.0/8), so local sites can be
# crawled. The renderer drives Debian's chromium (`make browser-deps` installs it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUN="$ROOT/.local/run"; LOGS="$ROOT/.local/logs"
mkdir -p "$RUN" "$LOGS"

eval "$(bash deploy/services.sh env)"
export CRAWL_API_RABBITMQ_URL="${CRAWL_API_RABBITMQ_URL:-$RABBITMQ_URL}"
export CRAWL_API_MONGODB_URL="${CRAWL_API_MONGODB_URL:-$MONGODB_URL}"
export CRAWL_API_TOKENS="${CRAWL_API_TOKENS:-{\"dev-token\": {\"user\": \"dev\", \"tenant\": \"dev\", \"email\": \"dev@example.com\"}}}"
export CRAWL_API_PORT="${CRAWL_API_PORT:-8000}"
export CRAWL_WORKER_RABBITMQ_URL="${CRAWL_WORKER_RABBITMQ_URL:-$RABBITMQ_URL}"
export CRAWL_WORKER_ALLOWED_NETWORKS="${CRAWL_WORKER_ALLOWED_NETWORKS:-[\"127.0.0.0/8\", \"::1/128\"]}"
export CRAWL_WORKER_MONGODB_URL="${CRAWL_WORKER_MONGODB_URL:-$MONGODB_URL}"
export CRAWL_STATUS_RABBITMQ_URL="${CRAWL_STATUS_RABBITMQ_URL:-$RABBITMQ_URL}"
export CRAWL_STATUS_MONGODB_URL="${CRAWL_STATUS_MONGODB_URL:-$MONGODB_URL}"
export CRAWL_RENDERER_RABBITMQ_URL="${CRAWL_RENDERER_RABBITMQ_URL:-$RABBITMQ_URL}"
export CRAWL_RENDERER_ALLOWED_NETWORKS="${CRAWL_RENDERER_ALLOWED_NETWORKS:-[\"127.0.0.0/8\", \"::1/128\"]}"

running() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

start() {  # name module
  if running "$1"; then echo "$1: already running (pid $(cat "$RUN/$1.pid"))"; return; fi
  setsid nohup "$ROOT/.venv/bin/python" -m "$2" >>"$LOGS/$1.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$1.pid"
  echo "$1: started (pid $!, log .local/logs/$1.log)"
}

stop() {
  if running "$1"; then
    local pid; pid="$(cat "$RUN/$1.pid")"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    # Up to 30 s: a crawler hands its running jobs back first (CRAWL_WORKER_STOP_GRACE).
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "$1: stopped"
  fi
  rm -f "$RUN/$1.pid"
}

case "${1:-}" in
  up)
    start status crawl_status
    start crawler crawl_worker
    start renderer crawl_renderer
    start api crawl_api
    url="http://127.0.0.1:${CRAWL_API_PORT}"
    for _ in $(seq 1 150); do
      if curl -fsS "$url/health/ready" >/dev/null 2>&1; then echo "API ready at $url (token: dev-token)"; exit 0; fi
      running api || { echo "the API exited; see .local/logs/api.log:" >&2; tail -n 30 "$LOGS/api.log" >&2; exit 1; }
      sleep 0.2
    done
    echo "the API did not become ready in 30 s; see .local/logs/api.log" >&2; exit 1 ;;
  down)
    stop api; stop renderer; stop crawler; stop status ;;
  *)
    echo "usage: $0 up|down" >&2; exit 2 ;;
esac
