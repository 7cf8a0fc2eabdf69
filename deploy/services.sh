#!/usr/bin/env bash
# Local RabbitMQ + FerretDB (MongoDB protocol over SQLite) for development and CI.
#
#   bash deploy/services.sh start    # install/build if needed, start both, wait, print URLs
#   bash deploy/services.sh stop     # stop both (succeeds if they were not running)
#   bash deploy/services.sh status   # exit 0 if both are up, 1 otherwise
#   bash deploy/services.sh env      # print the URL lines only
#
# `start` prints only the URL lines on stdout (progress goes to stderr), so
#   eval "$(bash deploy/services.sh start)"   # or: export $(bash deploy/services.sh env)
# works. All state lives under $ROOT/.local (git-ignored):
#   .local/rabbitmq/   config, Erlang cookie, mnesia data, logs
#   .local/ferretdb/   data/ (SQLite files), ferretdb.pid
#   .local/bin/        ferretdb binary built from deploy/ferretdb
#   .local/logs/       ferretdb.log
# Overridable: RABBITMQ_PORT (5672), RABBITMQ_MANAGEMENT_PORT (15672),
# FERRETDB_PORT (27017), FERRETDB_LOG_LEVEL (info), FERRETDB_GOGC (400), SERVICES_TIMEOUT (120 s).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"

HOST=127.0.0.1
RABBITMQ_PORT="${RABBITMQ_PORT:-5672}"
RABBITMQ_MANAGEMENT_PORT="${RABBITMQ_MANAGEMENT_PORT:-15672}"
FERRETDB_PORT="${FERRETDB_PORT:-27017}"
FERRETDB_LOG_LEVEL="${FERRETDB_LOG_LEVEL:-info}"
FERRETDB_GOGC="${FERRETDB_GOGC:-400}"
TIMEOUT="${SERVICES_TIMEOUT:-120}"

RABBITMQ_URL="amqp://guest:guest@$HOST:$RABBITMQ_PORT/"
MONGODB_URL="mongodb://$HOST:$FERRETDB_PORT/"

# Debian's /usr/sbin/rabbitmq* wrappers `su` to the rabbitmq user when run as
# root (and refuse other users), which would not be able to write .local/;
# the real scripts live here and run as the calling user.
RMQ_BIN=/usr/lib/rabbitmq/bin
RMQ_DIR="$LOCAL/rabbitmq"
# A distinct node name per port lets several checkouts run side by side
# (with different RABBITMQ_PORT / RABBITMQ_MANAGEMENT_PORT / FERRETDB_PORT).
if [[ "$RABBITMQ_PORT" == 5672 ]]; then RMQ_NODE=rabbit@localhost; else RMQ_NODE="rabbit-$RABBITMQ_PORT@localhost"; fi
RMQ_PID="$RMQ_DIR/$RMQ_NODE.pid"

FDB_SRC="$ROOT/deploy/ferretdb"
FDB_BIN="$LOCAL/bin/ferretdb"
FDB_DIR="$LOCAL/ferretdb"
FDB_PID="$FDB_DIR/ferretdb.pid"
FDB_LOG="$LOCAL/logs/ferretdb.log"

log() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

print_urls() {
  echo "RABBITMQ_URL=$RABBITMQ_URL"
  echo "RABBITMQ_MANAGEMENT_URL=http://$HOST:$RABBITMQ_MANAGEMENT_PORT"
  echo "MONGODB_URL=$MONGODB_URL"
}

port_open() { # port -> 0 if something accepts TCP connections on $HOST:port
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

pid_alive() { # pidfile name -> 0 if the pid in pidfile runs a process called name
  local pid
  [[ -s "$1" ]] || return 1
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    grep -q "$2" "/proc/$pid/comm" 2>/dev/null
}

show_log() { # file... -> tail of each existing file, on stderr
  local f
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    echo "----- tail of $f -----" >&2
    tail -n 40 "$f" >&2
  done
}

wait_exit() { # pid name seconds -> wait for pid to exit, SIGKILL after the timeout
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$2 (pid $1) still running after $3 s; sending SIGKILL"
  kill -9 "$1" 2>/dev/null || true
}

# ---------------------------------------------------------------- RabbitMQ

# Runs a RabbitMQ script with the project-local environment, in a subshell so
# HOME etc. do not leak into the rest of this script (e.g. into `go build`).
rmq() {
  (
    # The Erlang cookie is read from $HOME/.erlang.cookie by the server and by
    # rabbitmqctl alike, so both get the same private HOME.
    export HOME="$RMQ_DIR"
    export LC_ALL=C.UTF-8 # the Elixir CLI warns on non-UTF-8 locales
    export RABBITMQ_NODENAME="$RMQ_NODE"
    export RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
    export RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf" # not /etc/rabbitmq's
    export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
    export RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
    export RABBITMQ_LOG_BASE="$RMQ_DIR/log"
    export RABBITMQ_PID_FILE="$RMQ_PID"
    export RABBITMQ_DIST_PORT=$((RABBITMQ_PORT + 20000))
    # Keep Erlang distribution and epmd (if we start it) on loopback.
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export ERL_EPMD_ADDRESS=127.0.0.1
    cd "$RMQ_DIR"
    "$RMQ_BIN/$1" "${@:2}"
  )
}

rmq_install() {
  [[ -x "$RMQ_BIN/rabbitmq-server" ]] && return 0
  [[ "$(id -u)" == 0 ]] || die "rabbitmq-server is not installed; run this once as root (or: sudo apt-get install rabbitmq-server)"
  log "installing rabbitmq-server with apt-get"
  # Stop the package's postinst from starting a system-wide broker (it would
  # take port 5672). Debian-based images often already ship such a file.
  local policy=/usr/sbin/policy-rc.d created_policy=""
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT # also if apt-get is interrupted
  fi
  local rc=0
  {
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q update &&
      apt-get -q install -y --no-install-recommends -o DPkg::Lock::Timeout=300 rabbitmq-server
  } </dev/null >&2 || rc=$?
  if [[ -n "$created_policy" ]]; then rm -f "$policy"; trap - EXIT; fi
  [[ $rc == 0 ]] || die "apt-get install rabbitmq-server failed (exit $rc)"
  # On a systemd machine, keep the system unit from grabbing the port at boot.
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    systemctl disable --now rabbitmq-server.service >&2 || true
  fi
}

rmq_write_config() {
  mkdir -p "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
  # Rewritten on every start so port overrides apply. consumer_timeout is left
  # at its default on purpose.
  cat >"$RMQ_DIR/rabbitmq.conf" <<EOF
# Generated by deploy/services.sh; edits are overwritten on start.
listeners.tcp.local = $HOST:$RABBITMQ_PORT
management.tcp.ip = $HOST
management.tcp.port = $RABBITMQ_MANAGEMENT_PORT
# guest/guest may only log in from loopback (the default, stated explicitly).
loopback_users.guest = true
EOF
  # The status service's partitions are a consistent-hash exchange (crawl_runtime.topology).
  echo '[rabbitmq_management,rabbitmq_consistent_hash_exchange].' >"$RMQ_DIR/enabled_plugins"
  : >"$RMQ_DIR/rabbitmq-env.conf"
  if [[ ! -s "$RMQ_DIR/.erlang.cookie" ]]; then
    # Pre-create it so the server and the CLI never race to generate one.
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RMQ_DIR/.erlang.cookie")
    chmod 400 "$RMQ_DIR/.erlang.cookie"
  fi
}

# The node answers rabbitmqctl and has fully booted.
rmq_ready() { rmq rabbitmqctl -q await_startup --timeout "${1:-5}" >/dev/null 2>&1; }

mgmt_ready() { # management API answers guest/guest
  if command -v python3 >/dev/null; then
    python3 - "http://$HOST:$RABBITMQ_MANAGEMENT_PORT/api/overview" <<'EOF' >/dev/null 2>&1
import base64, sys, urllib.request
req = urllib.request.Request(sys.argv[1])
req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
urllib.request.urlopen(req, timeout=5).read()
EOF
  else
    port_open "$RABBITMQ_MANAGEMENT_PORT"
  fi
}

rmq_up() { port_open "$RABBITMQ_PORT" && rmq_ready 5; }

rmq_pid() { # pid of this checkout's RabbitMQ VM, also while it boots (no pid file yet)
  local d
  if pid_alive "$RMQ_PID" beam; then cat "$RMQ_PID"; return 0; fi
  for d in /proc/[0-9]*; do
    [[ "$(cat "$d/comm" 2>/dev/null)" == beam.smp ]] || continue
    if tr '\0' '\n' <"$d/environ" 2>/dev/null | grep -qxF "RABBITMQ_PID_FILE=$RMQ_PID"; then
      echo "${d#/proc/}"
      return 0
    fi
  done
  return 1
}

rmq_start() {
  if rmq_up; then
    log "rabbitmq already running"
    # A node started by an older checkout lacks the status partitions' exchange type.
    grep -q rabbitmq_consistent_hash_exchange "$RMQ_DIR/enabled_plugins" 2>/dev/null ||
      rmq rabbitmq-plugins -q enable rabbitmq_consistent_hash_exchange >/dev/null
    return 0
  fi
  local pid
  if pid="$(rmq_pid)"; then
    log "rabbitmq is already starting (pid $pid)"
    return 0
  fi
  rmq_install
  rmq_write_config
  local port
  for port in "$RABBITMQ_PORT" "$RABBITMQ_MANAGEMENT_PORT" $((RABBITMQ_PORT + 20000)); do
    port_open "$port" && die "port $port is taken by another process (a system rabbitmq-server? another checkout?)"
  done
  log "starting rabbitmq ($RMQ_NODE, data in $RMQ_DIR)"
  RMQ_LOG_OFFSET="$(stat -c %s "$RMQ_DIR/log/$RMQ_NODE.log" 2>/dev/null || echo 0)"
  rmq rabbitmq-server -detached >>"$RMQ_DIR/log/startup.log" 2>&1 ||
    { show_log "$RMQ_DIR/log/startup.log"; die "rabbitmq-server -detached failed"; }
}

RMQ_LOG_OFFSET=0 # size of the node log before this start: older lines are not ours

rmq_fail() { # message -> first error lines and tail of this start's log, then exit 1
  local f="$RMQ_DIR/log/$RMQ_NODE.log" new
  show_log "$RMQ_DIR/log/startup.log"
  if [[ -f "$f" ]]; then
    new="$(tail -c +$((RMQ_LOG_OFFSET + 1)) "$f")"
    echo "----- first errors in $f (this start) -----" >&2
    grep -m 20 -E '\[(error|critical)\]' <<<"$new" | cut -c1-300 >&2 || true
    echo "----- tail of $f -----" >&2
    tail -n 30 <<<"$new" >&2
  fi
  die "$1"
}

rmq_wait() {
  local deadline=$((SECONDS + TIMEOUT))
  # The AMQP listener opens near the end of boot; poll it cheaply first
  # (each rabbitmqctl call starts an Erlang VM).
  until port_open "$RABBITMQ_PORT"; do
    rmq_pid >/dev/null || rmq_fail "rabbitmq exited during startup"
    ((SECONDS < deadline)) || rmq_fail "rabbitmq did not open port $RABBITMQ_PORT within ${TIMEOUT}s"
    sleep 1
  done
  rmq_ready $((deadline - SECONDS > 5 ? deadline - SECONDS : 5)) ||
    rmq_fail "rabbitmqctl await_startup failed (cookie/nodename mismatch?)"
  until mgmt_ready; do
    ((SECONDS < deadline)) || rmq_fail "rabbitmq management API on port $RABBITMQ_MANAGEMENT_PORT did not answer within ${TIMEOUT}s"
    sleep 1
  done
}

rmq_stop() {
  local pid
  if ! pid="$(rmq_pid)"; then
    log "rabbitmq not running"
    rm -f "$RMQ_PID"
    return 0
  fi
  log "stopping rabbitmq (pid $pid)"
  # A node still booting may not answer rabbitmqctl yet: fall back to SIGTERM.
  rmq rabbitmqctl -q stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  wait_exit "$pid" rabbitmq 60
  rm -f "$RMQ_PID"
}

# ---------------------------------------------------------------- FerretDB

# FerretDB v1.24's SQLite backend answers queries by reading and decoding every row of the
# collection in Go, except for a lookup by `_id` alone. The build copies the module from the
# Go module cache (left untouched) and applies the patch series deploy/ferretdb/patches/*.patch
# (in name order; unified diffs against the v1.24.2 module root, each explaining itself in its
# header), then builds deploy/ferretdb against the copy through a `replace`:
#  0001  lookups by `_id` use the unique `_id` index (upstream compared an expression SQLite does
#        not match to it), also with other fields next to `_id` ({_id, version} compare-and-set;
#        50 ms -> 1 ms with 4,000 documents of 2 KB).
#  0002  filters and sorts on indexed fields are pushed down to SQLite: indexes on simple
#        top-level fields are built on `_ferretdb_sjson->>'field'`, the same expression the
#        WHERE and ORDER BY clauses use, so a sorted, limited query reads about the rows it
#        returns instead of the whole collection (the handler still applies the complete filter
#        to each row; 50 pages of a job out of 200,000 documents: 12 s -> 6 ms). buildInfo says
#        `queryPushdown: "sqlite-v1"`, which is how the services know to create their query
#        indexes here. tests/integration/test_ferretdb_pushdown.py checks answers and costs.
# The binary is rebuilt when the wrapper's sources or a patch change. A patch that no longer
# applies (e.g. after a FerretDB version bump in go.mod) stops the build: refresh the series by
# applying it in a git copy of the new module and re-exporting it with `git format-patch`.
FDB_PATCHES="$FDB_SRC/patches"

fdb_apply_patches() { # $1 = directory of the module copy, $2 = module@version; applies the series in name order
  local patch name
  for patch in "$FDB_PATCHES"/*.patch; do
    [[ -f "$patch" ]] || continue
    name="${patch#"$ROOT"/}"
    # The copy lies inside this checkout's work tree: without a ceiling, git would resolve the
    # patch's paths against the checkout's root and silently skip them all.
    if ! (cd "$1" && unset GIT_DIR GIT_WORK_TREE && GIT_CEILING_DIRECTORIES="$(dirname "$1")" \
          git apply --check --whitespace=nowarn "$patch") >&2; then
      echo "FerretDB patch $name does not apply to $2; it must be refreshed for this version" >&2
      return 1
    fi
    (cd "$1" && unset GIT_DIR GIT_WORK_TREE && GIT_CEILING_DIRECTORIES="$(dirname "$1")" \
      git apply --whitespace=nowarn "$patch") >&2 || return 1
  done
}

fdb_prepare_source() { # $1 = go binary; prints the directory to build in
  local go="$1" info dir work="$LOCAL/ferretdb-build"
  (cd "$FDB_SRC" && GOFLAGS=-mod=readonly "$go" mod download github.com/FerretDB/FerretDB) >&2 || return 1
  info="$(cd "$FDB_SRC" && GOFLAGS=-mod=readonly "$go" list -m -f '{{.Version}} {{.Dir}}' github.com/FerretDB/FerretDB)" ||
    return 1
  dir="${info#* }"
  rm -rf "$work"
  mkdir -p "$work/main"
  cp -r "$dir" "$work/module"
  chmod -R u+w "$work/module"
  fdb_apply_patches "$work/module" "github.com/FerretDB/FerretDB@${info%% *}" || return 1
  cp "$FDB_SRC"/go.mod "$FDB_SRC"/go.sum "$FDB_SRC"/*.go "$work/main/"
  (cd "$work/main" && "$go" mod edit -replace github.com/FerretDB/FerretDB=../module) >&2 || return 1
  echo "$work/main"
}

fdb_stamp() { # a checksum of everything the binary is built from (the module itself is pinned by go.sum)
  local f
  for f in "$FDB_SRC"/go.mod "$FDB_SRC"/go.sum "$FDB_SRC"/*.go "$FDB_PATCHES"/*.patch; do
    [[ -f "$f" ]] || continue
    echo "== ${f#"$FDB_SRC"/}"
    cat "$f"
  done | cksum
}

fdb_build() {
  # Rebuild when the wrapper's sources or the patches change (or the binary is missing).
  local stamp
  stamp="$(fdb_stamp)"
  if [[ -x "$FDB_BIN" && "$(cat "$FDB_BIN.stamp" 2>/dev/null)" == "$stamp" ]]; then
    return 0
  fi
  local go
  go="$(command -v go || echo /usr/local/go/bin/go)"
  [[ -x "$go" ]] || die "Go (>= 1.24) is needed to build FerretDB: not found in PATH or /usr/local/go/bin"
  command -v git >/dev/null || die "git is needed to apply deploy/ferretdb/patches (git apply)"
  log "building FerretDB from deploy/ferretdb into $FDB_BIN (about a minute on a cold Go cache)"
  mkdir -p "$(dirname "$FDB_BIN")"
  local src
  src="$(fdb_prepare_source "$go")" || die "could not prepare FerretDB's patched source (see above)"
  (cd "$src" && GOFLAGS=-mod=readonly CGO_ENABLED=0 "$go" build -trimpath -o "$FDB_BIN.tmp" .) >&2 ||
    die "go build of deploy/ferretdb failed"
  mv -f "$FDB_BIN.tmp" "$FDB_BIN"
  echo "$stamp" >"$FDB_BIN.stamp"
}

fdb_ping() { # a real MongoDB `ping` (OP_MSG) over a raw socket; TCP connect without python3
  command -v python3 >/dev/null || { port_open "$FERRETDB_PORT"; return; }
  python3 - "$HOST" "$FERRETDB_PORT" <<'EOF' >/dev/null 2>&1
import socket, struct, sys

def cstr(s):
    return s.encode() + b"\0"

# BSON {ping: 1, $db: "admin"}
body = b"\x10" + cstr("ping") + struct.pack("<i", 1) + b"\x02" + cstr("$db") + struct.pack("<i", 6) + cstr("admin")
doc = struct.pack("<i", len(body) + 5) + body + b"\0"
msg = struct.pack("<I", 0) + b"\0" + doc  # flagBits, section kind 0
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as s:
    s.sendall(struct.pack("<iiii", 16 + len(msg), 1, 0, 2013) + msg)  # OP_MSG
    buf = b""
    while len(buf) < 4 or len(buf) < struct.unpack("<i", buf[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(1)
        buf += chunk
sys.exit(0 if b"\x01ok\x00" + struct.pack("<d", 1.0) in buf else 1)
EOF
}

fdb_start() {
  if pid_alive "$FDB_PID" ferretdb; then
    # Started from a binary built from other sources (the patches changed since): the
    # services would meet a server without what they expect of it. Restart it on the new one.
    if [[ "$(cat "$FDB_BIN.stamp" 2>/dev/null)" == "$(fdb_stamp)" ]]; then
      log "ferretdb already running (pid $(cat "$FDB_PID"))"
      return 0
    fi
    log "ferretdb runs a build of other sources; rebuilding and restarting it (data kept)"
    fdb_stop
  fi
  if fdb_ping; then
    log "something already answers MongoDB ping on port $FERRETDB_PORT (not started by this script); using it"
    return 0
  fi
  fdb_build
  mkdir -p "$FDB_DIR/data" "$(dirname "$FDB_LOG")"
  port_open "$FERRETDB_PORT" && die "port $FERRETDB_PORT is taken by another process"
  log "starting ferretdb (SQLite data in $FDB_DIR/data)"
  # setsid: own session, so it survives this script and terminal signals.
  # Telemetry is never sent by the embedded build; the flag is explicit anyway.
  # synchronous(normal): with SQLite's WAL (FerretDB's default) a commit survives a crash of
  # the process, only not a power cut; it makes single writes about 6x faster (3.2 -> 0.5 ms
  # per insert measured here), which is the right trade for a local stand-in of MongoDB.
  # GOGC: Go's collector runs once the heap has grown by FERRETDB_GOGC % (Go's default is
  # 100). FerretDB allocates a lot per command; at 400 it spent about a quarter less CPU in
  # `make bench-api`'s bursts, for a heap of tens of MB more.
  echo "=== $(date -Is) start" >>"$FDB_LOG"
  GOGC="$FERRETDB_GOGC" nohup setsid "$FDB_BIN" \
    --listen-addr="$HOST:$FERRETDB_PORT" \
    --handler=sqlite \
    --sqlite-url="file:$FDB_DIR/data/?_pragma=synchronous(normal)" \
    --log-level="$FERRETDB_LOG_LEVEL" \
    --telemetry=disable \
    </dev/null >>"$FDB_LOG" 2>&1 &
  echo $! >"$FDB_PID"
}

fdb_fail() { # message -> this start's part of the log (after the last "===" line), exit 1
  echo "----- $FDB_LOG (this start) -----" >&2
  awk '/^=== /{n = 0} {buf[n++] = $0} END{for (i = (n > 40 ? n - 40 : 0); i < n; i++) print buf[i]}' "$FDB_LOG" >&2 || true
  die "$1"
}

fdb_wait() {
  local deadline=$((SECONDS + TIMEOUT))
  until fdb_ping; do
    if [[ -s "$FDB_PID" ]] && ! pid_alive "$FDB_PID" ferretdb; then
      fdb_fail "ferretdb exited during startup"
    fi
    ((SECONDS < deadline)) || fdb_fail "ferretdb did not answer ping on port $FERRETDB_PORT within ${TIMEOUT}s"
    sleep 0.5
  done
}

fdb_stop() {
  if ! pid_alive "$FDB_PID" ferretdb; then
    log "ferretdb not running"
    rm -f "$FDB_PID"
    return 0
  fi
  local pid
  pid="$(cat "$FDB_PID")"
  log "stopping ferretdb (pid $pid)"
  kill "$pid" 2>/dev/null || true # SIGTERM: closes the SQLite databases cleanly
  wait_exit "$pid" ferretdb 10
  rm -f "$FDB_PID"
}

# ---------------------------------------------------------------- commands

cmd_status() {
  local ok=0
  if rmq_up; then echo "rabbitmq: up    $RABBITMQ_URL (management http://$HOST:$RABBITMQ_MANAGEMENT_PORT/)"
  else echo "rabbitmq: down"; ok=1; fi
  if fdb_ping; then echo "ferretdb: up    $MONGODB_URL"
  else echo "ferretdb: down"; ok=1; fi
  return $ok
}

case "${1:-}" in
  start)
    # Launch both, then wait for both: RabbitMQ's boot (5-10 s) overlaps
    # FerretDB's (instant once built; the first build takes about a minute).
    fdb_start
    rmq_start
    fdb_wait
    rmq_wait
    print_urls
    ;;
  stop)
    fdb_stop
    if [[ -x "$RMQ_BIN/rabbitmqctl" ]]; then rmq_stop; else log "rabbitmq not installed"; fi
    ;;
  restart)
    # One of them, as after a crash or an upgrade (make soak restarts each once).
    case "${2:-}" in
      rabbitmq) rmq_stop; rmq_start; rmq_wait ;;
      ferretdb) fdb_stop; fdb_start; fdb_wait ;;
      *) echo "usage: $0 restart {rabbitmq|ferretdb}" >&2; exit 2 ;;
    esac
    ;;
  status) cmd_status ;;
  env) print_urls ;;
  *)
    echo "usage: $0 {start|stop|restart rabbitmq|ferretdb|status|env}" >&2
    exit 2
    ;;
esac
