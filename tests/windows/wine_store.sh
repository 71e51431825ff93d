#!/usr/bin/env bash
# subscriberd.exe as a store, under Wine, against the real Linux head office on loopback: a
# redis-server on a free port, publisherd from the Linux build (signing with a key bcastctl made),
# and the Windows subscriberd trusting its public key, with its state dir and jsonl file under
# names with emoji (UTF-8 paths through to CreateFileW). It checks that
#   - a message sent with bcastctl reaches the jsonl file, and publisherd shows it `displayed`;
#   - Ctrl+C (SIGINT, which Wine passes on as a console event) stops it cleanly;
#   - a message sent while it is stopped is caught up on at the next start, and the first one is
#     not shown again;
#   - a config file with rediss:// (TLS, the CA from redis_tls.ca_file) works;
#   - an exec sink (cmd.exe) that prints `acknowledged` acknowledges; after a kill -9, a message
#     sent meanwhile is caught up on, and every message is in the jsonl file, and run by the exec
#     sink, exactly once;
#   - the Windows-only config errors (zenity, unix://) and the %ProgramData% defaults.
# Needs `./dev build` (publisherd, bcastctl) and `./dev windows`; ./dev test runs it.
# usage: tests/windows/wine_store.sh [LINUX_BUILD_DIR [WINDOWS_BUILD_DIR]]   (build, build-win)
set -euo pipefail
NAME=wine_store
source "$(dirname "$0")/lib.sh"
export WINEPREFIX=${XDG_CACHE_HOME:-$HOME/.cache}/bcast/wine
[[ -d $WINEPREFIX ]] || wineboot --init >/dev/null 2>&1

state="$T/état toko ☕"
jsonl="$T/pesan 📢.jsonl"

step "redis-server (plain and TLS), a signing key, publisherd (Linux)"
start_head_office --tls

sub_args=(--redis "redis://127.0.0.1:$redis_port" --store s1 --state-dir "$(win "$state")"
  --sink "jsonl:$(win "$jsonl")" --trusted-key "$(win "$T/keys/signing.pub")")
live_at_least() { (($(count_in "$T/sub.log" "is live on 2 channels") >= $1)); }
start_store() {
  wine "$exe" "${sub_args[@]}" >>"$T/sub.log" 2>&1 &
  sub_pid=$!
  pids+=("$sub_pid")
  wait_for 60 "subscriberd.exe goes live" live_at_least "$1"
}
stop_store() {
  kill -INT "$sub_pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$sub_pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "subscriberd.exe did not stop on SIGINT"
    sleep 0.2
  done
  wait "$sub_pid" || fail "subscriberd.exe exited with status $? on SIGINT"
  [[ $(count_in "$T/sub.log" "notice: stopped") -ge $1 ]] || fail "no 'stopped' in the log"
}

step "subscriberd.exe under Wine: state dir and jsonl file with emoji in their names"
start_store 1
id1=$(bcastctl send --target store:s1 --category announcement --title "Pengumuman ☕" \
  "Selamat pagi, toko buka pukul 07.00 🎉" | sent_id)
[[ -n $id1 ]] || fail "bcastctl send"
wait_for 30 "message $id1 in the jsonl file" has_line "$jsonl" "\"id\":\"$id1\""
has_line "$jsonl" '"title":"Pengumuman ☕"' || fail "the title arrived changed"
wait_for 30 "publisherd shows $id1 displayed at s1" receipt_is "$id1" displayed
echo "live: $id1 in $(basename "$jsonl"), receipt displayed"

step "Ctrl+C (SIGINT) stops it; a message sent meanwhile is caught up on at the next start"
stop_store 1
id2=$(bcastctl send --target all --category price_info --title "Harga baru" "Minyak goreng 2L Rp 34.900" |
  sent_id)
[[ -n $id2 ]] || fail "bcastctl send"
sleep 1
! has_line "$jsonl" "\"id\":\"$id2\"" || fail "$id2 shown while the store was stopped"
[[ -f "$state/position.json" ]] || fail "no position.json in the state dir"
start_store 2
wait_for 30 "message $id2 caught up on" has_line "$jsonl" "\"id\":\"$id2\""
wait_for 30 "publisherd shows $id2 displayed at s1" receipt_is "$id2" displayed
[[ $(count_in "$jsonl" "\"id\":\"$id1\"") == 1 ]] || fail "$id1 was shown again after the restart"
echo "catch-up: $id2 shown once after the restart, $id1 not repeated"
stop_store 2

step "a config file, and TLS to Redis (rediss://, the CA from redis_tls.ca_file)"
cat >"$T/subscriberd.json" <<JSON
{
  // OpenSSL on Windows does not read the Windows certificate store: the CA is named here.
  "redis": "rediss://127.0.0.1:$tls_port",
  "redis_tls": {"ca_file": "$(win "$T/ca.crt")", "server_name": "localhost"},
  "store": "s1",
  "sinks": ["jsonl:$(win "$jsonl")"],
  "trusted_keys": ["$(win "$T/keys/signing.pub")"],
  "state_dir": "$(win "$state")"
}
JSON
sub_args=(--config "$(win "$T/subscriberd.json")")
start_store 3
grep -qF "at rediss://127.0.0.1:$tls_port" "$T/sub.log" || fail "not on rediss://"
id3=$(bcastctl send --target store:s1 --category announcement --title "Lewat TLS" "Pesan ketiga" | sent_id)
wait_for 30 "message $id3 over TLS" has_line "$jsonl" "\"id\":\"$id3\""
wait_for 30 "publisherd shows $id3 displayed at s1" receipt_is "$id3" displayed
echo "TLS: $id3 shown, over rediss:// verified against the test CA"
stop_store 3

step "an exec sink (cmd.exe) that acknowledges; kill -9, then each message once after the restart"
exec_out="$T/exec.txt"
# cmd.exe expands %BCAST_ID%; the line `acknowledged` on stdout acknowledges (as on Linux).
sub_args=(--redis "redis://127.0.0.1:$redis_port" --store s1 --state-dir "$(win "$state")"
  --sink "jsonl:$(win "$jsonl")" --sink "exec:echo %BCAST_ID%>>$(win "$exec_out") & echo acknowledged"
  --trusted-key "$(win "$T/keys/signing.pub")")
start_store 4
id4=$(bcastctl send --target store:s1 --category announcement --require-ack --title "Wajib baca" "Mohon konfirmasi" | sent_id)
wait_for 30 "message $id4 run by the exec sink" has_line "$exec_out" "$id4"
wait_for 30 "publisherd shows $id4 acknowledged at s1" receipt_is "$id4" acknowledged
kill -KILL "$sub_pid"
wait "$sub_pid" 2>/dev/null || true
id5=$(bcastctl send --target all --category announcement --title "Setelah mati" "Pesan kelima" | sent_id)
start_store 5
wait_for 30 "message $id5 caught up on after kill -9" has_line "$exec_out" "$id5"
wait_for 30 "message $id5 in the jsonl file" has_line "$jsonl" "\"id\":\"$id5\""
for id in "$id1" "$id2" "$id3" "$id4" "$id5"; do
  [[ $(count_in "$jsonl" "\"id\":\"$id\"") == 1 ]] || fail "$id is in the jsonl file $(count_in "$jsonl" "\"id\":\"$id\"") times"
done
for id in "$id4" "$id5"; do
  [[ $(count_in "$exec_out" "$id") == 1 ]] || fail "the exec sink ran $(count_in "$exec_out" "$id") times for $id"
done
echo "exec: $id4 acknowledged by the command; after kill -9: $id5 caught up on, each message once"
stop_store 4  # the fourth "stopped": the kill -9 wrote none

step "Windows-only configuration"
out=$(wine "$exe" --store s1 --sink zenity --trusted-key "$(win "$T/keys/signing.pub")" --state-dir "$(win "$state")" --check-config 2>&1) && fail "zenity accepted"
grep -qF "the zenity sink is not available on Windows; use win32" <<<"$out" || fail "zenity: $out"
out=$(wine "$exe" --store s1 --redis unix:///run/redis.sock --trusted-key "$(win "$T/keys/signing.pub")" --check-config 2>&1) && fail "unix:// accepted"
grep -qF "not available on Windows" <<<"$out" || fail "unix://: $out"
out=$(wine "$exe" --store s1 --sink terminal --trusted-key "$(win "$T/keys/signing.pub")" --check-config 2>&1) ||
  fail "no --state-dir should default to %ProgramData%\\bcast: $out"
echo "zenity and unix:// refused with a clear error; no --state-dir: $out"

echo "wine_store: all ok"
