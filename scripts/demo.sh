#!/usr/bin/env bash
# ./dev demo: a private Redis on loopback, publisherd with a demo login, and three demo stores
# with the terminal sink, all on this machine. Ctrl-C stops everything.
# ./dev demo --cluster: a local Redis Cluster instead (3 masters and 3 replicas on loopback ports
# BCAST_DEMO_CLUSTER_PORT..+5, default 7000, bus ports +10000), which everything uses through a
# redis-cluster:// URL.
set -euo pipefail
CLUSTER=0
case ${1:-} in
  --cluster) CLUSTER=1 ;;
  '') ;;
  *) echo "usage: ./dev demo [--cluster]" >&2; exit 2 ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BCAST_BUILD_DIR:-$ROOT/build}
DEMO=$(mktemp -d /tmp/bcast-demo-XXXXXX)
REDIS_PORT=${BCAST_DEMO_REDIS_PORT:-6399}
HTTP_PORT=${BCAST_DEMO_HTTP_PORT:-8080}
PASSWORD=${BCAST_DEMO_PASSWORD:-demo-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')}
pids=()

cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DEMO"
}
trap cleanup EXIT INT TERM

if ((CLUSTER)); then
  source "$ROOT/scripts/local_cluster.sh"
  base=${BCAST_DEMO_CLUSTER_PORT:-7000}
  start_local_cluster "$DEMO" $(seq "$base" $((base + 5))) || { pids+=("${LOCAL_CLUSTER_PIDS[@]}"); exit 1; }
  pids+=("${LOCAL_CLUSTER_PIDS[@]}")
  REDIS_URL=$LOCAL_CLUSTER_URL
  REDIS_INFO="Redis Cluster: masters 127.0.0.1:$base-$((base + 2)), replicas $((base + 3))-$((base + 5)) ($REDIS_URL);
              redis-cli -c -p $base cluster shards"
else
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DEMO" \
    --logfile "$DEMO/redis.log" &
  pids+=($!)
  until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done
  REDIS_URL=redis://127.0.0.1:$REDIS_PORT
  REDIS_INFO=$REDIS_URL
fi

printf '%s\n' "$PASSWORD" | "$BUILD/daemons/bcastctl/bcastctl" user add --users "$DEMO/users.json" admin \
  --role admin --password-stdin 2>/dev/null
# publisherd signs every message with SIGNING_KEY; the stores trust PUBLIC_KEY.
"$BUILD/daemons/bcastctl/bcastctl" key gen --out "$DEMO/keys" >/dev/null
SIGNING_KEY=$DEMO/keys/signing.key
PUBLIC_KEY=$DEMO/keys/signing.pub
cat >"$DEMO/publisherd.json" <<JSON
{ "web_root": "$ROOT/daemons/publisherd/web", "signing_key": "$SIGNING_KEY" }
JSON
"$BUILD/daemons/publisherd/publisherd" --config "$DEMO/publisherd.json" --redis "$REDIS_URL" \
  --http "127.0.0.1:$HTTP_PORT" --users "$DEMO/users.json" --unix-socket "$DEMO/publisherd.sock" \
  2> >(sed -u "s/^/[publisherd] /" >&2) &
pids+=($!)

start_store() {  # start_store ID GROUP...
  local id=$1
  shift
  local groups=()
  for g in "$@"; do groups+=(--group "$g"); done
  "$BUILD/daemons/subscriberd/subscriberd" --redis "$REDIS_URL" --store "$id" "${groups[@]}" \
    --sink terminal --state-dir "$DEMO/store-$id" --trusted-key "$PUBLIC_KEY" > >(sed -u "s/^/[store:$id] /") 2> >(sed -u "s/^/[store:$id] /" >&2) &
  pids+=($!)
}
start_store smg-01 region:jateng format:minimarket
start_store smg-02 region:jateng format:supermarket
start_store sby-01 region:jatim format:minimarket

until curl -fs "http://127.0.0.1:$HTTP_PORT/api/v1/health" >/dev/null 2>&1; do sleep 0.1; done
cat <<INFO

  bcast demo is running.
    Redis:    $REDIS_INFO
    Web UI:   http://127.0.0.1:$HTTP_PORT/
    Login:    admin / $PASSWORD
    Signing:  $SIGNING_KEY (key id $("$BUILD/daemons/bcastctl/bcastctl" key id "$PUBLIC_KEY")); the stores trust $PUBLIC_KEY
    Stores:   smg-01 (region:jateng, format:minimarket), smg-02 (region:jateng, format:supermarket),
              sby-01 (region:jatim, format:minimarket) — their popups print below.
    CLI:      BCAST_SOCKET=$DEMO/publisherd.sock $BUILD/daemons/bcastctl/bcastctl send --target all \\
                --category announcement --title "Halo" "Selamat pagi"
              Take it back: ... bcastctl recall ID (the stores print RECALLED); correct it: send
              --supersedes ID; send it later: send --at 2026-12-03T09:00:00+07:00, then bcastctl
              scheduled and bcastctl cancel ID. The web UI has Recall, Correct, Send later and a
              Scheduled page.
  Ctrl-C stops everything.

INFO
wait
