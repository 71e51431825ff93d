#!/usr/bin/env bash
# bcast-store-setup.exe (windows/installer.nsi) installed silently under Wine, as a fleet rollout
# does it, against the real Linux head office on loopback, in a Wine prefix of its own. It checks
#   - without /REDIS, /STORE or /KEY it exits 2 and installs nothing;
#   - /S /REDIS= /STORE= /GROUPS= /KEY= /SINKS= /LANGUAGE= puts subscriberd.exe and uninstall.exe
#     in Program Files\bcast, head office's key and a subscriberd.json that says exactly that in
#     ProgramData\bcast, the uninstall entry, and the service bcast-subscriberd, running: a
#     message reaches its jsonl sink and publisherd shows it `displayed`;
#   - a bad store id is refused by subscriberd (exit 2): no service;
#   - uninstall.exe /S removes the service and the program, and keeps ProgramData\bcast.
# Needs `./dev build` (publisherd, bcastctl) and `./dev windows` (which makes the installer).
# usage: tests/windows/wine_installer.sh [LINUX_BUILD_DIR [WINDOWS_BUILD_DIR]]   (build, build-win)
set -euo pipefail
NAME=wine_installer
source "$(dirname "$0")/lib.sh"
setup=$windows/bcast-store-setup.exe
require_files "$setup"
program_files="$T/prefix/drive_c/Program Files/bcast"
data="$T/prefix/drive_c/ProgramData/bcast"
log_files+=(prefix/drive_c/ProgramData/bcast/subscriberd.log)
service_key='HKLM\System\CurrentControlSet\Services\bcast-subscriberd'
uninstall_key='HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\bcast-store'
registered() { wine reg query "$1" >/dev/null 2>&1; }

step "a Wine prefix of its own"
own_prefix

step "redis-server, a signing key, publisherd (Linux)"
start_head_office
cp "$T/keys/signing.pub" "$T/kunci kantor pusat.pub"  # a blank in the path, as on a share

step "/S without /REDIS, /STORE or /KEY: exit 2, nothing installed"
status=0
wine "$setup" /S "/STORE=s1" || status=$?
[[ $status == 2 ]] || fail "exit status $status without /REDIS and /KEY, not 2"
[[ ! -e "$program_files/subscriberd.exe" ]] || fail "installed without /REDIS and /KEY"
grep -qF "/REDIS=, /STORE= and /KEY= are needed" "$T"/prefix/drive_c/users/*/Temp/bcast-store-setup.log ||
  fail "%TEMP%\bcast-store-setup.log does not say what is missing"

step "/S with a bad store id: subscriberd refuses it, no service"
status=0
wine "$setup" /S "/REDIS=redis://127.0.0.1:$redis_port" "/STORE=Toko Satu" "/KEY=$(win "$T/keys/signing.pub")" || status=$?
[[ $status == 2 ]] || fail "exit status $status for a bad store id, not 2"
! registered "$service_key" || fail "a service registered for a bad store id"
setup_log=$(cat "$T"/prefix/drive_c/users/*/Temp/bcast-store-setup.log 2>/dev/null || true)
grep -qF "store id 'Toko Satu' must match" <<<"$setup_log" || fail "%TEMP%\bcast-store-setup.log does not say why: $setup_log"

step "/S /REDIS= /STORE= /GROUPS= /KEY= /SINKS= /LANGUAGE="
jsonl_windows='C:\ProgramData\bcast\pesan.jsonl'
wine "$setup" /S "/REDIS=redis://127.0.0.1:$redis_port" /STORE=s1 /GROUPS=region:jateng,format:minimarket \
  "/KEY=$(win "$T/kunci kantor pusat.pub")" "/SINKS=jsonl:$jsonl_windows" /LANGUAGE=id ||
  fail "the silent install exited with $?"
for f in "$program_files/subscriberd.exe" "$program_files/uninstall.exe" "$data/signing.pub" "$data/subscriberd.json"; do
  [[ -f $f ]] || fail "${f#"$T/prefix/"} is missing"
done
cmp -s "$data/signing.pub" "$T/keys/signing.pub" || fail "signing.pub is not head office's key"
cmp -s "$program_files/subscriberd.exe" "$exe" || fail "the installed subscriberd.exe is not the one built"
# The config says what was given (python reads it as subscriberd does: comments aside, JSON).
python3 - "$data/subscriberd.json" "$redis_port" "$jsonl_windows" <<'PY' || fail "subscriberd.json: $(cat "$data/subscriberd.json")"
import json, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
c = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))
want = {
    "redis": "redis://127.0.0.1:" + sys.argv[2],
    "store": "s1",
    "groups": ["region:jateng", "format:minimarket"],
    "sinks": ["jsonl:" + sys.argv[3]],
    "language": "id",
    "state_dir": "C:\\ProgramData\\bcast",
    "trusted_keys": ["C:\\ProgramData\\bcast\\signing.pub"],
}
for k, v in want.items():
    assert c.get(k) == v, f"{k}: {c.get(k)!r}, wanted {v!r}"
assert set(c) == set(want), f"unexpected keys {set(c) - set(want)}"
PY
registered "$service_key" || fail "no service bcast-subscriberd"
registered "$uninstall_key" || fail "no uninstall entry"
echo "installed: Program Files\\bcast, ProgramData\\bcast\\subscriberd.json as given, the service"

step "the installed service shows a message"
log="$data/subscriberd.log"
live() { has_line "$log" "is live on 4 channels"; }
wait_for 60 "the installed service goes live (all, store:s1, and its two groups)" live
send_and_see "$data/pesan.jsonl" region:jateng "Dari pemasang" "Pesan pertama"
echo "service: $sent shown, receipt displayed"

step "uninstall.exe /S"
wine "$program_files/uninstall.exe" /S || fail "the silent uninstall exited with $?"
gone() { [[ ! -e "$program_files/subscriberd.exe" ]] && ! registered "$service_key"; }
wait_for 30 "the program and the service gone" gone
! registered "$uninstall_key" || fail "the uninstall entry stays"
[[ -f "$data/subscriberd.json" && -f "$data/position.json" ]] || fail "ProgramData\\bcast was not kept"
echo "uninstalled: the service and the program gone, ProgramData\\bcast kept"

echo "wine_installer: all ok"
