# shellcheck shell=bash
# A local Redis Cluster on loopback for the demo and the bench scripts: N masters and one replica
# each, joined with redis-cli --cluster create. Source it, then
#   start_local_cluster DIR PORT...   (an even number of ports, at least 6: the first half masters)
# It appends each redis-server's pid to LOCAL_CLUSTER_PIDS (the caller stops them), sets
# LOCAL_CLUSTER_URL to a redis-cluster:// URL with two seeds, and returns once every node says
# cluster_state:ok and every replica is in sync. Extra redis-server arguments for every node:
# the array LOCAL_CLUSTER_ARGS. Each node's cluster bus port is its port + 10000 unless
# LOCAL_CLUSTER_BUS_PORTS names one per node (the bench picks free ones).
LOCAL_CLUSTER_PIDS=()
LOCAL_CLUSTER_URL=
local_cluster_fail() {
  echo "local cluster: $*" >&2
  return 1
}

start_local_cluster() {
  local dir=$1
  shift
  local ports=("$@") buses=() i port node_dir nodes=() deadline
  ((${#ports[@]} >= 6 && ${#ports[@]} % 2 == 0)) || local_cluster_fail "needs an even number of ports, at least 6" || return
  read -ra buses <<<"${LOCAL_CLUSTER_BUS_PORTS:-}"
  for i in "${!ports[@]}"; do
    port=${ports[$i]}
    node_dir=$dir/node-$port
    mkdir -p "$node_dir"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$node_dir" \
      --logfile "$node_dir/redis.log" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-port "${buses[$i]:-$((port + 10000))}" --cluster-node-timeout 2000 \
      --repl-diskless-sync yes --repl-diskless-sync-delay 0 ${LOCAL_CLUSTER_ARGS[@]+"${LOCAL_CLUSTER_ARGS[@]}"} &
    LOCAL_CLUSTER_PIDS+=($!)
    nodes+=("127.0.0.1:$port")
  done
  for port in "${ports[@]}"; do
    deadline=$((SECONDS + 10))
    until redis-cli -p "$port" ping >/dev/null 2>&1; do
      ((SECONDS < deadline)) || local_cluster_fail "node $port did not start: $(tail -3 "$dir/node-$port/redis.log")" || return
      sleep 0.05
    done
  done
  local created
  created=$(redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes 2>&1) ||
    local_cluster_fail "redis-cli --cluster create failed: $created" || return
  # Settled: every node sees state ok and every replica has its master's data.
  deadline=$((SECONDS + 30))
  for port in "${ports[@]}"; do
    until redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' &&
      ! redis-cli -p "$port" info replication 2>/dev/null | grep -q '^master_link_status:down'; do
      ((SECONDS < deadline)) || local_cluster_fail "node $port did not settle: $(redis-cli -p "$port" cluster info | head -1)" || return
      sleep 0.1
    done
  done
  LOCAL_CLUSTER_URL="redis-cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}"
}
