# shellcheck shell=bash
# Shared set-up for the bench scripts: a temp dir, free ports, a private redis-server, and
# publisherd with a bearer token; everything started is stopped on exit. Source it.
BENCH_DIR=$(mktemp -d)
BENCH_PIDS=()
bench_cleanup() {
  for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$BENCH_DIR"
}
trap bench_cleanup EXIT

# PIN_CPU=N runs Redis, publisherd and the measured programs on CPU N only: no wake-up crosses
# CPUs, so a ratio shows the work each side does per message rather than the scheduler's moves.
bench_pin=()
if [[ -n ${PIN_CPU:-} ]]; then bench_pin=(taskset -c "$PIN_CPU"); fi

# BENCH_TINY=1: each script runs once at a size that only shows it still works (the bench-scripts
# test runs every bench/*.sh so, in CI). tiny_or TINY NORMAL prints the one that applies.
tiny_or() { if [[ -n ${BENCH_TINY:-} ]]; then echo "$1"; else echo "$2"; fi; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_cluster [MASTERS]: a local Redis Cluster (scripts/local_cluster.sh) of MASTERS masters
# (default 3) and a replica each, on free loopback ports, tuned as bcast_bench.sh's Redis is for
# thousands of subscribers; sets BENCH_CLUSTER_URL and BENCH_CLUSTER_PORTS (the masters first).
start_cluster() {
  local n=$((2 * ${1:-3})) i
  source "$(dirname "${BASH_SOURCE[0]}")/../scripts/local_cluster.sh"
  BENCH_CLUSTER_PORTS=()
  LOCAL_CLUSTER_BUS_PORTS=
  for ((i = 0; i < n; i++)); do
    BENCH_CLUSTER_PORTS+=("$(free_port)")
    LOCAL_CLUSTER_BUS_PORTS+="$(free_port) "
  done
  LOCAL_CLUSTER_ARGS=(--maxclients 12000 --tcp-backlog 65535 --client-output-buffer-limit 'pubsub 512mb 128mb 60')
  start_local_cluster "$BENCH_DIR/cluster" "${BENCH_CLUSTER_PORTS[@]}" || { BENCH_PIDS+=("${LOCAL_CLUSTER_PIDS[@]}"); exit 1; }
  BENCH_PIDS+=("${LOCAL_CLUSTER_PIDS[@]}")
  if [[ -n ${PIN_CPU:-} ]]; then
    for i in "${LOCAL_CLUSTER_PIDS[@]}"; do taskset -a -pc "$PIN_CPU" "$i" >/dev/null; done
  fi
  BENCH_CLUSTER_URL=$LOCAL_CLUSTER_URL
}

# cluster_flushall: FLUSHALL on every master (a replica refuses it and follows its master).
cluster_flushall() {
  local p
  for p in "${BENCH_CLUSTER_PORTS[@]}"; do redis-cli -p "$p" flushall >/dev/null 2>&1 || true; done
}

# write_store_profiles N PORT...: N store profiles (s00000, s00001, ...), written the way
# subscriberd's heartbeat writes them, into the Redis on PORT; given a cluster's masters, each
# profile goes to the master of its key's slot (CRC16 of the {store:ID} tag).
write_store_profiles() {
  local n=$1 p
  shift
  python3 - "$n" "$BENCH_DIR/profiles" "$@" <<'PY'
import json, subprocess, sys
n, out, ports = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc
def resp(*args):
    return f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
owner = lambda slot: ports[0]
if len(ports) > 1:
    ranges = json.loads(subprocess.check_output(
        ["redis-cli", "-p", ports[0], "-2", "--json", "CLUSTER", "SLOTS"]))
    owner = lambda slot: next(str(r[2][1]) for r in ranges if r[0] <= slot <= r[1])
files = {p: open(f"{out}-{p}", "w") for p in ports}
for i in range(n):
    sid = f"s{i:05d}"
    files[owner(crc16(("store:" + sid).encode()) % 16384)].write(resp(
        "HSET", "bcast:{store:" + sid + "}:profile", "id", sid,
        "groups", f'["region:r{i % 35}","format:minimarket"]', "version", "bench",
        "last_seen", "2026-11-26T10:00:00.000Z", "first_seen", "2026-11-26T10:00:00.000Z"))
PY
  for p in "$@"; do redis-cli -p "$p" --pipe <"$BENCH_DIR/profiles-$p" >/dev/null; done
}

start_redis() {  # start_redis PORT
  "${bench_pin[@]}" redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$BENCH_DIR" \
    --logfile "$BENCH_DIR/redis.log" &
  BENCH_PIDS+=($!)
  until redis-cli -p "$1" ping >/dev/null 2>&1; do sleep 0.05; done
}

# bench_key_pair BUILD NAME: a message signing key pair made by BUILD's bcastctl in
# $BENCH_DIR/keys-NAME; sets BENCH_SIGNING_KEY (publisherd's) and BENCH_PUBLIC_KEY (what a store
# trusts). Both are empty for a build from before signed messages (no `bcastctl key gen`), whose
# publisherd needs no key: bcast_bench_ab.sh may compare against one.
bench_key_pair() {
  BENCH_SIGNING_KEY='' BENCH_PUBLIC_KEY=''
  if [[ $("$1/daemons/bcastctl/bcastctl" --help) == *'key gen'* ]]; then
    "$1/daemons/bcastctl/bcastctl" key gen --out "$BENCH_DIR/keys-$2" >/dev/null
    BENCH_SIGNING_KEY=$BENCH_DIR/keys-$2/signing.key
    BENCH_PUBLIC_KEY=$BENCH_DIR/keys-$2/signing.pub
  fi
}

# What a store of the build that made the key pair is told to trust (after bench_key_pair or
# start_publisherd): publisherd's public key; --allow-unsigned under BENCH_UNSIGNED=1; nothing for a
# build from before signed messages.
store_trust_args() {
  if [[ -z $BENCH_PUBLIC_KEY ]]; then
    BENCH_STORE_TRUST=()
  elif [[ ${BENCH_UNSIGNED:-0} == 1 ]]; then
    BENCH_STORE_TRUST=(--allow-unsigned)
  else
    BENCH_STORE_TRUST=(--trusted-key "$BENCH_PUBLIC_KEY")
  fi
}

# start_publisherd BUILD REDIS_PORT HTTP_PORT: sets BENCH_TOKEN, a bearer token of an admin, and
# (bench_key_pair) BENCH_PUBLIC_KEY, the public half of the key it signs with. Each publisherd has
# its own users file, key pair and log, named after its port.
# start_publisherd BUILD REDIS_PORT|REDIS_URL HTTP_PORT [CONFIG_FILE]
start_publisherd() {
  local users="$BENCH_DIR/users-$3.json" redis_url=$2
  [[ $redis_url == *://* ]] || redis_url="redis://127.0.0.1:$2"
  printf 'bench\n' | "$1/daemons/bcastctl/bcastctl" user add --users "$users" bench --role admin \
    --password-stdin 2>/dev/null
  BENCH_TOKEN=$("$1/daemons/bcastctl/bcastctl" user token --users "$users" bench 2>/dev/null)
  bench_key_pair "$1" "$3"
  local signing=()
  if [[ ${BENCH_UNSIGNED:-0} == 1 && -n $BENCH_SIGNING_KEY ]]; then
    # What signing costs: the same build publishing unsigned (stores must be told --allow-unsigned).
    echo '{"allow_unsigned": true}' >"$BENCH_DIR/unsigned-$3.json"
    signing=(--config "$BENCH_DIR/unsigned-$3.json")
  elif [[ -n $BENCH_SIGNING_KEY ]]; then
    signing=(--signing-key "$BENCH_SIGNING_KEY")
  fi
  [[ -z ${4:-} ]] || signing+=(--config "$4")
  "${bench_pin[@]}" "$1/daemons/publisherd/publisherd" --redis "$redis_url" --http "127.0.0.1:$3" \
    --users "$users" "${signing[@]}" 2>"$BENCH_DIR/publisherd-$3.log" &
  BENCH_PIDS+=($!)
  until curl -fs "http://127.0.0.1:$3/api/v1/health" >/dev/null 2>&1; do
    kill -0 "${BENCH_PIDS[-1]}" 2>/dev/null || { echo "publisherd exited:" >&2; cat "$BENCH_DIR/publisherd-$3.log" >&2; exit 1; }
    sleep 0.05
  done
}
