#!/usr/bin/env bash
# Builds tests/windows/smoke.cpp for Windows with meson and scripts/mingw-w64-x86_64.ini against
# the libraries scripts/mingw_deps.sh builds (run ./dev windows first), shows that the .exe needs
# no mingw-w64 DLL, and runs it under Wine, headless. Not part of ./dev test.
# usage: tests/windows/smoke.sh [BUILD_DIR]   (default: build-windows-smoke)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-windows-smoke}
prefix=$(scripts/mingw_deps.sh)
# A Wine prefix of its own, beside the libraries, made on first use (a few seconds; it complains
# that there is no 32-bit Wine, which nothing here needs). Meson runs its compiler check in it too
# (the cross file's exe_wrapper).
export WINEPREFIX=${XDG_CACHE_HOME:-$HOME/.cache}/bcast/wine WINEDEBUG=-all
[[ -d $WINEPREFIX ]] || wineboot --init >/dev/null 2>&1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
quiet() { "$@" >"$out" 2>&1 || { cat "$out" >&2; exit 1; }; }  # its output on failure only
[[ -f $build/build.ninja ]] || quiet meson setup "$build" tests/windows \
  --cross-file "$prefix/cross-prefix.ini" --cross-file scripts/mingw-w64-x86_64.ini
quiet ninja -C "$build"
dlls=$(x86_64-w64-mingw32-objdump -p "$build/smoke.exe" | sed -n 's/^\tDLL Name: //p' | sort | tr '\n' ' ')
echo "smoke.exe ($(du -k "$build/smoke.exe" | cut -f1) KiB) imports: $dlls"
if grep -qiE 'lib(gcc|stdc|winpthread|ssl|crypto|uv)' <<<"$dlls"; then
  echo "smoke.exe needs a DLL it should have linked in" >&2
  exit 1
fi
wine "$build/smoke.exe"
