# What the Wine tests of the Windows store share (sourced, not run): the checks of what they need,
# a temporary directory cleaned up at exit, polling helpers, and the Linux head office they talk to
# (a redis-server on a free port, a signing key, publisherd on a Unix socket).
# The sourcing script sets NAME (for messages) and, optionally, extra_cleanup (a function run first
# at exit) and log_files (the files whose tails a failure prints).
# usage: source tests/windows/lib.sh [LINUX_BUILD_DIR [WINDOWS_BUILD_DIR]]   (build, build-win)

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
linux=$(readlink -f "${1:-build}")
windows=$(readlink -f "${2:-build-win}")
exe=$windows/daemons/subscriberd/subscriberd.exe
# No .NET (Mono) or HTML (Gecko) in the prefixes: wineboot would offer to download them.
export WINEDEBUG=-all LC_ALL=C.UTF-8 WINEDLLOVERRIDES="mscoree,mshtml="
log_files=(pub.log sub.log)

step() { printf '\033[1m--> %s\033[0m\n' "$*"; }
fail() {
  local f
  echo "$NAME: FAILED: $*" >&2
  for f in "${log_files[@]}"; do [[ -f $T/$f ]] && { echo "--- $f" >&2; tail -n 20 "$T/$f" >&2; }; done
  exit 1
}
# require_files FILE...; require_programs PROGRAM...: exit 2 (not a failure: cannot run) if missing.
require_files() {
  local f
  for f in "$@"; do
    [[ -f $f ]] || { echo "$NAME: $f is missing (./dev build, ./dev windows)" >&2; exit 2; }
  done
}
require_programs() {
  local p
  for p in "$@"; do command -v "$p" >/dev/null || { echo "$NAME: $p is missing" >&2; exit 2; }; done
}
require_files "$linux/daemons/publisherd/publisherd" "$linux/daemons/bcastctl/bcastctl" "$exe"
require_programs redis-server redis-cli wine wineserver curl python3 openssl

# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds, polling every 0.2 s.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    ((SECONDS < deadline)) || fail "$what (after ${limit}s)"
    sleep 0.2
  done
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
has_line() { [[ -f $1 ]] && grep -qF -- "$2" "$1"; }
count_in() { if [[ -f $1 ]]; then grep -cF -- "$2" "$1" || true; else echo 0; fi; }
# Wine maps Z: to /, so Z:/tmp/... is /tmp/... for the .exe.
win() { echo "Z:$1"; }

T=$(mktemp -d "/tmp/bcast-$NAME.XXXXXX")
pids=()
redis_pid=
cleanup() {
  local p
  if declare -F extra_cleanup >/dev/null; then extra_cleanup; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [[ -f $T/redis.pid ]] && redis_pid=$(cat "$T/redis.pid")
  if [[ -n $redis_pid ]]; then kill "$redis_pid" 2>/dev/null || true; fi
  # Everything gone before $T goes: a program still writing there would make rm fail.
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  local n=0
  while [[ -n $redis_pid ]] && kill -0 "$redis_pid" 2>/dev/null && ((n++ < 50)); do sleep 0.1; done
  if [[ ${KEEP:-} ]]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

bcastctl() { "$linux/daemons/bcastctl/bcastctl" --socket "$T/publisherd.sock" "$@"; }
# sent_id: the id from bcastctl send's "sent ID".
sent_id() { sed -n 's/^sent //p'; }
# The store's receipt state for message $1, as publisherd reports it (GET /api/v1/messages/{id}).
receipt() {
  curl -sf --unix-socket "$T/publisherd.sock" "http://localhost/api/v1/messages/$1" |
    python3 -c 'import json, sys; r = json.load(sys.stdin)["receipts"]["stores"]; print(next((s["state"] for s in r if s["store"] == "s1"), "none"))'
}
receipt_is() { [[ $(receipt "$1") == "$2" ]]; }
# send_and_see JSONL TARGET TITLE BODY: an announcement sent with bcastctl, then waited for in the
# store's jsonl file and as `displayed` at publisherd; its id in $sent.
send_and_see() {
  sent=$(bcastctl send --target "$2" --category announcement --title "$3" "$4" | sent_id)
  [[ -n $sent ]] || fail "bcastctl send"
  wait_for 30 "message $sent in $(basename "$1")" has_line "$1" "\"id\":\"$sent\""
  wait_for 30 "publisherd shows $sent displayed at s1" receipt_is "$sent" displayed
}

# start_head_office [--tls]: redis-server on $redis_port (and, with --tls, on $tls_port with a test
# CA in $T/ca.crt and a certificate for 127.0.0.1 and localhost), a key pair in $T/keys, and
# publisherd signing with it, on $T/publisherd.sock. Fd 9 (a lock some scripts hold) stays closed
# in what runs on.
start_head_office() {
  local tls=()
  redis_port=$(free_port)
  if [[ ${1:-} == --tls ]]; then
    tls_port=$(free_port)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
      -out "$T/ca.crt" -days 2 -subj /CN=bcast-test-ca 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/server.key" \
      -out "$T/server.csr" -subj /CN=localhost 2>/dev/null
    openssl x509 -req -in "$T/server.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
      -out "$T/server.crt" -days 2 -extfile <(echo "subjectAltName=DNS:localhost,IP:127.0.0.1") 2>/dev/null
    tls=(--tls-port "$tls_port" --tls-cert-file "$T/server.crt" --tls-key-file "$T/server.key"
      --tls-ca-cert-file "$T/ca.crt" --tls-auth-clients no)
  fi
  redis-server --port "$redis_port" "${tls[@]}" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$T/redis.pid" --logfile "$T/redis.log" 9>&-
  redis_up() { redis-cli -p "$redis_port" ping >/dev/null 2>&1; }
  wait_for 10 "redis-server answers" redis_up
  "$linux/daemons/bcastctl/bcastctl" key gen --out "$T/keys" >/dev/null
  printf 's3cret\n' | "$linux/daemons/bcastctl/bcastctl" user add --users "$T/users.json" admin \
    --role admin --password-stdin >/dev/null 2>&1
  "$linux/daemons/publisherd/publisherd" --redis "redis://127.0.0.1:$redis_port" \
    --http "127.0.0.1:$(free_port)" --users "$T/users.json" --unix-socket "$T/publisherd.sock" \
    --signing-key "$T/keys/signing.key" >"$T/pub.log" 2>&1 9>&- &
  pids+=($!)
  wait_for 20 "publisherd connects to Redis" has_line "$T/pub.log" "connected to Redis"
}

# own_prefix: a Wine prefix made for this run in $T/prefix (a service installed in a shared one
# would start with every later test there). Its wineserver stays up between the wine commands, as
# Windows does between commands (a service would otherwise end with the last command that kept
# the prefix running), and is ended at exit.
own_prefix() {
  export WINEPREFIX=$T/prefix
  wineboot --init >/dev/null 2>&1
  wineserver -w
  wineserver -p
  # The prefix's own processes (services.exe among them) start now, their output to nowhere: one
  # started by a $(wine ...) later would hold its pipe open, and that $(...) would never end.
  wine cmd /c exit </dev/null >/dev/null 2>&1
  extra_cleanup() {
    wineserver -k 2>/dev/null || true
    wineserver -w 2>/dev/null || true
  }
}
