#!/usr/bin/env bash
# subscriberd.exe as a Windows service under Wine's Service Control Manager, against the real
# Linux head office on loopback, in a Wine prefix of its own. It checks that
#   - --install-service with a bad configuration is refused and installs nothing;
#   - --install-service registers bcast-subscriberd: automatic start, LocalSystem, its command
#     line --service and the options it was installed with, a description; and it gives the config
#     and the state dir to SYSTEM and Administrators only;
#   - `sc start` runs it: it logs to subscriberd.log in the state dir, a message reaches its
#     jsonl sink and publisherd shows it `displayed`;
#   - `sc stop` stops it cleanly, a message sent meanwhile is caught up on at the next start, and
#     the first is not shown again;
#   - --service started by hand says it is for the Service Control Manager;
#   - --uninstall-service stops and removes it.
# Wine does not carry out the recovery actions (restart on failure) it is given; Windows does.
# Needs `./dev build` (publisherd, bcastctl) and `./dev windows`.
# usage: tests/windows/wine_service.sh [LINUX_BUILD_DIR [WINDOWS_BUILD_DIR]]   (build, build-win)
set -euo pipefail
NAME=wine_service
source "$(dirname "$0")/lib.sh"
log_files+=(state/subscriberd.log)
key='HKLM\System\CurrentControlSet\Services\bcast-subscriberd'
registered() { wine reg query "$key" >/dev/null 2>&1; }
registry() { wine reg query "$key" 2>/dev/null | tr -d '\r'; }

step "a Wine prefix of its own"
own_prefix

step "redis-server, a signing key, publisherd (Linux)"
start_head_office
jsonl="$T/pesan.jsonl"
log="$T/state/subscriberd.log"
write_config() {  # write_config STORE_ID
  cat >"$T/subscriberd.json" <<JSON
{
  "redis": "redis://127.0.0.1:$redis_port",
  "store": "$1",
  "sinks": ["jsonl:$(win "$jsonl")"],
  "trusted_keys": ["$(win "$T/keys/signing.pub")"],
  "state_dir": "$(win "$T/state")"
}
JSON
}

step "--install-service with a bad configuration installs nothing"
write_config "Not A Store Id"
out=$(wine "$exe" --install-service --config "$(win "$T/subscriberd.json")" 2>&1) && fail "a bad store id installed: $out"
grep -qF "store id" <<<"$out" || fail "no word on the store id: $out"
! registered || fail "the service is registered after a refused install"

step "--install-service"
write_config s1
out=$(wine "$exe" --install-service --config "$(win "$T/subscriberd.json")" 2>&1) || fail "install: $out"
echo "$out"
# (Wine keeps no file ACLs: that the users at the till cannot read them shows on Windows only.)
grep -qF "subscriberd.json: SYSTEM and Administrators only" <<<"$out" || fail "the config was not locked down: $out"
grep -qF "$(win "$T/state"): SYSTEM and Administrators only" <<<"$out" || fail "the state dir was not locked down: $out"
reg=$(registry)
grep -qE 'ImagePath.*subscriberd\.exe"? --service --config .*subscriberd\.json' <<<"$reg" || fail "ImagePath: $reg"
grep -qE 'Start\s+REG_DWORD\s+0x2' <<<"$reg" || fail "not an automatic start: $reg"
grep -qE 'ObjectName\s+REG_SZ\s+LocalSystem' <<<"$reg" || fail "not LocalSystem: $reg"
grep -qE 'Description\s+REG_SZ\s+Shows head office' <<<"$reg" || fail "no description: $reg"

live_at_least() { (($(count_in "$log" "is live on 2 channels") >= $1)); }
stopped_at_least() { (($(count_in "$log" "notice: stopped") >= $1)); }

step "sc start: it runs as the service, logs to the state dir and shows a message"
wine sc start bcast-subscriberd >"$T/sc.log" 2>&1 || fail "sc start: $(cat "$T/sc.log")"
wait_for 60 "the service goes live" live_at_least 1
send_and_see "$jsonl" store:s1 "Lewat layanan" "Pesan pertama"
id1=$sent
echo "service: $id1 shown, receipt displayed"

step "sc stop stops it; a message sent meanwhile is caught up on at the next start"
wine sc stop bcast-subscriberd >"$T/sc.log" 2>&1 || fail "sc stop: $(cat "$T/sc.log")"
wait_for 30 "the service logs that it stopped" stopped_at_least 1
id2=$(bcastctl send --target all --category announcement --title "Saat berhenti" "Pesan kedua" | sent_id)
sleep 1
! has_line "$jsonl" "\"id\":\"$id2\"" || fail "$id2 shown while the service was stopped"
wine sc start bcast-subscriberd >"$T/sc.log" 2>&1 || fail "sc start again: $(cat "$T/sc.log")"
wait_for 60 "the service goes live again" live_at_least 2
wait_for 30 "message $id2 caught up on" has_line "$jsonl" "\"id\":\"$id2\""
[[ $(count_in "$jsonl" "\"id\":\"$id1\"") == 1 ]] || fail "$id1 was shown again after the restart"
echo "restart: $id2 caught up on, $id1 not repeated"

step "--service by hand"
out=$(wine "$exe" --service --config "$(win "$T/subscriberd.json")" 2>&1) && fail "--service by hand ran"
grep -qF "is for the Service Control Manager" <<<"$out" || fail "--service by hand: $out"

step "--uninstall-service stops and removes it"
out=$(wine "$exe" --uninstall-service 2>&1) || fail "uninstall: $out"
echo "$out"
wait_for 30 "the service logs that it stopped" stopped_at_least 2
! registered || fail "still registered after --uninstall-service"
out=$(wine "$exe" --uninstall-service 2>&1) && fail "a second uninstall succeeded"
echo "a second --uninstall-service: $out"

echo "wine_service: all ok"
