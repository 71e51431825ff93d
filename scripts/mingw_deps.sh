#!/usr/bin/env bash
# The third-party libraries subscriberd.exe links, cross-built for 64-bit Windows
# (x86_64-w64-mingw32) as static libraries from Debian 12's own source packages: apt-get source,
# so that what Debian patched (its security fixes) is in, at Debian 12's versions.
#
#   libuv    lib/libuv.a, include/uv.h and include/uv/
#   OpenSSL  lib/libcrypto.a, lib/libssl.a and include/openssl/: no programs, engines, loadable
#            modules or legacy provider, and none of the algorithms below that bcast has no use for
#   hiredis  lib/libhiredis.a with the reply parser only (read.c, sds.c, alloc.c: no networking),
#            and the headers bcast includes, hiredis/hiredis.h and hiredis/read.h, with theirs
#   http-parser  lib/libhttp_parser.a (its one C file) and include/http_parser.h
#   nlohmann-json  include/nlohmann/ (header-only: nothing to build)
#
# `./dev windows` runs this after installing what it needs (WINDOWS_PACKAGES there). The result is
# a prefix outside the clone, named after what is in it:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/bcast/mingw-LIBUV-OPENSSL-HIREDIS-HASH
#
# LIBUV, OPENSSL and HIREDIS are the Debian versions of the source packages (the newest in apt's
# deb-src lists; see fetch for a mirror that lacks it), HASH is from this script's text: a
# security update or a changed recipe builds a new prefix, and an unchanged one is found in a
# second or two (no download then). The versions of http-parser and nlohmann-json are not in the
# name (they change seldom; the stamp records them). It holds include/, lib/, lib/pkgconfig/
# (libuv.pc, hiredis.pc, http-parser.pc, nlohmann_json.pc, and OpenSSL's openssl.pc, libssl.pc,
# libcrypto.pc), stamp (what was built, and how)
# and cross-prefix.ini, which gives meson the prefix for the cross file kept in the clone:
#
#   meson setup DIR --cross-file PREFIX/cross-prefix.ini --cross-file scripts/mingw-w64-x86_64.ini
#
# The prefix is built in a temporary directory beside it and renamed into place once complete, so
# an interrupted build leaves nothing that looks finished (and the next run starts afresh).
#
# Prints the prefix on stdout; everything else goes to stderr.
set -euo pipefail

TRIPLE=x86_64-w64-mingw32
# The posix thread model: bcast's headers use std::thread and std::mutex, which GCC 12's win32
# model lacks. The libraries are C, but one toolchain for everything keeps their runtime the exe's.
CC=$TRIPLE-gcc-posix
SOURCES=(libuv1 openssl hiredis http-parser nlohmann-json3)
SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/bcast
JOBS=$(nproc)

# OpenSSL: Debian's own choices (debian/rules: no IDEA, MDC2, RC5, zlib or SSLv3, and security
# level 2 by default, as its 20-debian.conf builds) and then what bcast does without, to build
# faster and ship less: it is a TLS client (X.509 verification, SNI and host name checks) and
# signs and verifies with Ed25519, hashes with SHA-256 and SHA-1 and derives keys with scrypt.
OPENSSL_OPTIONS=(
  no-shared no-module no-engine no-legacy no-tests
  no-idea no-mdc2 no-rc5 no-zlib no-ssl3 no-ssl3-method -DOPENSSL_TLS_SECURITY_LEVEL=2
  no-dtls no-srp no-ct no-cms no-ts no-cmp no-ocsp no-siv no-ec2m
  no-sm2 no-sm3 no-sm4 no-aria no-camellia no-seed no-bf no-cast no-rc2 no-rc4 no-md4 no-whirlpool
)
# Where OpenSSL looks at run time, as Windows paths: its Unix makefile would take them from
# --prefix, a path under this cache, which Windows reads as C:\root\.cache\... (a directory any
# user may create; openssl.cnf is read from OPENSSLDIR). These are what its Visual C++ build uses.
OPENSSL_RUNTIME_DIRS=(
  "OPENSSLDIR=C:/Program Files/Common Files/SSL"
  "ENGINESDIR=C:/Program Files/OpenSSL/lib/engines-3"
  "MODULESDIR=C:/Program Files/OpenSSL/lib/ossl-modules"
)
# What libuv links on Windows (its CMakeLists.txt, uv_libraries).
LIBUV_SYSTEM_LIBS="-lpsapi -luser32 -ladvapi32 -liphlpapi -luserenv -lws2_32"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() {
  printf 'mingw_deps: %s\n' "$*" >&2
  exit 1
}

require_tools() {
  local tool missing=()
  for tool in "$CC" "$TRIPLE-ar" "$TRIPLE-ranlib" "$TRIPLE-windres" cmake make perl dpkg-source; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) || die "missing ${missing[*]}: run ./dev windows, which installs them"
}

# apt-get source needs deb-src lists for bookworm. A machine with none configured gets
# /etc/apt/sources.list.d/bcast-deb-src.sources: the stanzas of debian.sources as deb-src (same
# mirrors, suites and keys), or deb.debian.org's when there is no such file. Then apt-get update.
DEB_SRC_FILE=/etc/apt/sources.list.d/bcast-deb-src.sources

have_source_lists() {
  # shellcheck disable=SC2016 # $(FILENAME) is apt's, not the shell's
  [[ -n $(apt-get indextargets --format '$(FILENAME)' 'Created-By: Sources' 'Codename: bookworm' 2>/dev/null) ]]
}

deb_src_configured() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] && grep -qE '^[[:space:]]*deb-src[[:space:]].*[[:space:]]bookworm([[:space:]]|$)' "$f" && return 0
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && awk -v RS= '/(^|\n)Types:[^\n]*deb-src/ && /(^|\n)Suites:[^\n]*bookworm/ &&
      !/(^|\n)Enabled: *[Nn]o/ { found = 1 } END { exit !found }' "$f" && return 0
  done
  return 1
}

ensure_deb_src() {
  have_source_lists && return 0
  [[ $(id -u) -eq 0 ]] || die "apt has no deb-src lists for bookworm; run as root, or enable deb-src and run apt-get update"
  if ! deb_src_configured; then
    log "enabling Debian's source packages: $DEB_SRC_FILE"
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$DEB_SRC_FILE"
    else
      cat >"$DEB_SRC_FILE" <<'SOURCES'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    fi
  fi
  log "apt-get update (for the deb-src lists)"
  apt-get update -qq
  have_source_lists || die "still no deb-src lists for bookworm after apt-get update"
}

# Each source package's versions in apt's deb-src lists, newest first: "PACKAGE VERSION..." a line,
# in the order of SOURCES.
source_versions() {
  apt-cache showsrc --only-source "${SOURCES[@]}" | perl -MDpkg::Version=version_compare -e '
    my ($package, %versions);
    while (<STDIN>) {
      $package = $1 if /^Package: (\S+)/;
      $versions{$package}{$1} = 1 if /^Version: (\S+)/;
    }
    for my $p (@ARGV) {
      die "apt knows no source package $p\n" unless $versions{$p};
      print join(" ", $p, sort { version_compare($b, $a) } keys %{$versions{$p}}), "\n";
    }' "${SOURCES[@]}"
}

prefix_name() {  # prefix_name LIBUV OPENSSL HIREDIS: the cache directory's name for these versions
  local name="mingw-$1-$2-$3-$HASH"
  echo "${name//:/_}"  # an epoch's colon
}

# run LOG COMMAND...: COMMAND's output goes to LOG; on failure its end is shown.
run() {
  local log=$1
  shift
  if ! "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "failed: $* (the end of its output is above)"
  fi
}

# fetch PACKAGE VERSION...: downloads and unpacks the first of the versions the mirror serves
# (newest first), into $WORK/src/PACKAGE; sets FETCHED to its version. A mirror may list a
# version before it serves all its files (a security update being published): then the one
# before it is used, with a warning.
fetch() {
  local package=$1 version dsc
  shift
  mkdir -p "$WORK/download/$package"
  for version in "$@"; do
    # As root, apt downloads as its own user _apt, who must be able to write there.
    if [[ $(id -u) -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$WORK/download/$package"; fi
    if (cd "$WORK/download/$package" && apt-get source --download-only -qq "$package=$version" >>"$WORK/fetch.log" 2>&1); then
      dsc=$(ls "$WORK/download/$package"/*_"${version#*:}".dsc)
      # apt checked the files against its signed lists; dpkg-source checks them against the .dsc
      # (and warns that it cannot check the uploader's signature without debian-keyring).
      mkdir -p "$WORK/src"
      run "$WORK/fetch.log" dpkg-source --no-copy -x "$dsc" "$WORK/src/$package"
      FETCHED=$version
      return 0
    fi
    log "WARNING: $package $version could not be downloaded (see below); trying the version before it"
    grep -E '^(E|W):' "$WORK/fetch.log" | tail -n 3 >&2 || true
  done
  die "no version of $package could be downloaded: $*"
}

# write_pc NAME DESCRIPTION VERSION [LIBS [LIBS_PRIVATE]]: $STAGE/lib/pkgconfig/NAME.pc, for a
# library under $PREFIX (headers in include/, archives in lib/).
write_pc() {
  {
    printf 'prefix=%s\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\n\n' "$PREFIX"
    printf 'Name: %s\nDescription: %s\nVersion: %s\n' "$1" "$2" "$3"
    [[ -z ${4:-} ]] || printf 'Libs: %s\n' "$4"
    [[ -z ${5:-} ]] || printf 'Libs.private: %s\n' "$5"
    printf 'Cflags: -I${includedir}\n'
  } >"$STAGE/lib/pkgconfig/$1.pc"
}

build_libuv() {
  local src=$WORK/src/libuv1 build=$WORK/build/libuv log=$WORK/libuv.log
  run "$log" cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_SYSTEM_PROCESSOR=x86_64 \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_RC_COMPILER="$TRIPLE-windres" \
    -DCMAKE_AR="$(command -v "$TRIPLE-ar")" -DCMAKE_RANLIB="$(command -v "$TRIPLE-ranlib")" \
    -DLIBUV_BUILD_TESTS=OFF -DLIBUV_BUILD_BENCH=OFF
  run "$log" cmake --build "$build" --target uv_a -j "$JOBS"
  install -D -m 644 "$build/libuv_a.a" "$STAGE/lib/libuv.a"
  mkdir -p "$STAGE/include"
  cp -R "$src/include/uv.h" "$src/include/uv" "$STAGE/include/"
  local version
  version=$(sed -n 's/^AC_INIT(\[libuv\], \[\([0-9.]*\)\].*/\1/p' "$src/configure.ac")
  write_pc libuv "libuv for Windows (static, from Debian's libuv1 $LIBUV_VERSION)" "$version" \
    "-L\${libdir} -luv" "$LIBUV_SYSTEM_LIBS"
}

build_openssl() {
  local src=$WORK/src/openssl build=$WORK/build/openssl log=$WORK/openssl.log
  mkdir -p "$build"
  # --prefix is where `make install_dev` puts it (under DESTDIR), and what the .pc files name.
  run "$log" env -C "$build" perl "$src/Configure" mingw64 --cross-compile-prefix="$TRIPLE-" \
    CC="${CC#"$TRIPLE-"}" --prefix="$PREFIX" --libdir=lib "${OPENSSL_OPTIONS[@]}"
  run "$log" make -C "$build" -j "$JOBS" build_libs "${OPENSSL_RUNTIME_DIRS[@]}"
  run "$log" make -C "$build" install_dev DESTDIR="$WORK/root" "${OPENSSL_RUNTIME_DIRS[@]}"
  rmdir "$STAGE/bin"  # where a shared build's DLLs would go
}

build_hiredis() {
  local src=$WORK/src/hiredis build=$WORK/build/hiredis log=$WORK/hiredis.log f
  mkdir -p "$build" "$STAGE/include/hiredis"
  # The flags of its Makefile, without -fPIC and -g.
  for f in read sds alloc; do
    run "$log" "$CC" -std=c99 -pedantic -O3 -Wall -W -Wstrict-prototypes -Wwrite-strings \
      -c "$src/$f.c" -o "$build/$f.o"
  done
  run "$log" "$TRIPLE-ar" rcs "$STAGE/lib/libhiredis.a" "$build/read.o" "$build/sds.o" "$build/alloc.o"
  install -m 644 "$src/hiredis.h" "$src/read.h" "$src/sds.h" "$src/alloc.h" "$STAGE/include/hiredis/"
  local version
  version=$(awk '/^#define HIREDIS_(MAJOR|MINOR|PATCH) / { v = v (v == "" ? "" : ".") $3 } END { print v }' "$src/hiredis.h")
  write_pc hiredis "hiredis's reply parser for Windows (static, from Debian's hiredis $HIREDIS_VERSION; no networking)" \
    "$version" "-L\${libdir} -lhiredis"
}

build_http_parser() {
  local src=$WORK/src/http-parser build=$WORK/build/http-parser log=$WORK/http-parser.log
  mkdir -p "$build"
  # Its Makefile's `package` target (what Debian ships as libhttp-parser-dev's .a), without -fPIC.
  run "$log" "$CC" -I"$src" -DHTTP_PARSER_STRICT=0 -Wall -Wextra -Werror -O3 \
    -c "$src/http_parser.c" -o "$build/http_parser.o"
  run "$log" "$TRIPLE-ar" rcs "$STAGE/lib/libhttp_parser.a" "$build/http_parser.o"
  install -m 644 "$src/http_parser.h" "$STAGE/include/"
  local version
  version=$(awk '/^#define HTTP_PARSER_VERSION_(MAJOR|MINOR|PATCH) / { v = v (v == "" ? "" : ".") $3 } END { print v }' "$src/http_parser.h")
  write_pc http-parser "http-parser for Windows (static, from Debian's http-parser $HTTP_PARSER_VERSION)" \
    "$version" "-L\${libdir} -lhttp_parser"
}

# Header-only: its include/ tree, as Debian's nlohmann-json3-dev installs it.
build_nlohmann_json() {
  local src=$WORK/src/nlohmann-json3 version
  cp -R "$src/include/nlohmann" "$STAGE/include/"
  version=$(sed -n 's/^project(nlohmann_json VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
  [[ -n $version ]] || die "no version in nlohmann-json's CMakeLists.txt"
  write_pc nlohmann_json "JSON for Modern C++ (header-only, from Debian's nlohmann-json3 $NLOHMANN_JSON_VERSION)" \
    "$version"
}

cleanup() { [[ -z ${WORK:-} ]] || rm -rf "$WORK"; }

main() {
  require_tools
  ensure_deb_src
  HASH=$(sha256sum "$SCRIPT" | cut -c1-12)

  local -A versions fetched
  local package list wanted candidates
  while read -r package list; do
    versions[$package]=$list
  done < <(source_versions)
  wanted=$CACHE/$(prefix_name "${versions[libuv1]%% *}" "${versions[openssl]%% *}" "${versions[hiredis]%% *}")
  if [[ -f $wanted/stamp ]]; then
    log "Windows libraries: $(readlink -f "$wanted")"
    readlink -f "$wanted"
    return 0
  fi

  mkdir -p "$CACHE"
  # What a killed run left (a run that ends otherwise removes its own).
  find "$CACHE" -maxdepth 1 -name '.mingw-build.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
  WORK=$(mktemp -d "$CACHE/.mingw-build.XXXXXX")
  trap cleanup EXIT
  local start=$SECONDS step
  log "fetching Debian's sources: ${SOURCES[*]}"
  for package in "${SOURCES[@]}"; do
    read -ra candidates <<<"${versions[$package]}"
    fetch "$package" "${candidates[@]}"
    fetched[$package]=$FETCHED
  done
  LIBUV_VERSION=${fetched[libuv1]} OPENSSL_VERSION=${fetched[openssl]} HIREDIS_VERSION=${fetched[hiredis]}
  HTTP_PARSER_VERSION=${fetched[http-parser]} NLOHMANN_JSON_VERSION=${fetched[nlohmann-json3]}
  PREFIX=$CACHE/$(prefix_name "$LIBUV_VERSION" "$OPENSSL_VERSION" "$HIREDIS_VERSION")
  STAGE=$WORK/root$PREFIX
  mkdir -p "$STAGE/lib/pkgconfig"

  if [[ ! -f $PREFIX/stamp ]]; then
    step=$SECONDS
    log "building libuv $LIBUV_VERSION for $TRIPLE"
    build_libuv
    log "libuv: $((SECONDS - step))s; building OpenSSL $OPENSSL_VERSION (a few minutes)"
    step=$SECONDS
    build_openssl
    log "OpenSSL: $((SECONDS - step))s; building hiredis $HIREDIS_VERSION (its reply parser)"
    build_hiredis
    log "building http-parser $HTTP_PARSER_VERSION; nlohmann-json $NLOHMANN_JSON_VERSION (headers)"
    build_http_parser
    build_nlohmann_json

    cat >"$STAGE/cross-prefix.ini" <<INI
# The prefix scripts/mingw-w64-x86_64.ini needs: meson setup DIR
#   --cross-file $PREFIX/cross-prefix.ini --cross-file scripts/mingw-w64-x86_64.ini
[constants]
bcast_mingw_prefix = '$PREFIX'
INI
    cat >"$STAGE/stamp" <<STAMP
Built by scripts/mingw_deps.sh (sha256 $HASH...) on $(date -u '+%Y-%m-%d %H:%M:%SZ'), static, for $TRIPLE
compiler: $("$CC" --version | head -n 1) ($CC, posix threads)
libuv1 $LIBUV_VERSION (Debian source package)
openssl $OPENSSL_VERSION (Debian source package): ${OPENSSL_OPTIONS[*]}; ${OPENSSL_RUNTIME_DIRS[*]}
hiredis $HIREDIS_VERSION (Debian source package): read.c sds.c alloc.c
http-parser $HTTP_PARSER_VERSION (Debian source package): http_parser.c
nlohmann-json3 $NLOHMANN_JSON_VERSION (Debian source package): include/nlohmann
STAMP
    # Into place in one rename; -T: never into a directory another run has just completed.
    if ! mv -T "$STAGE" "$PREFIX" 2>/dev/null && [[ ! -f $PREFIX/stamp ]]; then
      die "could not move the finished build to $PREFIX"
    fi
    log "built in $((SECONDS - start))s"
  fi
  if [[ $PREFIX != "$wanted" ]]; then
    # The newest version of one could not be downloaded: the next runs use what was built instead
    # until a newer version appears, or until this link is removed.
    ln -sfn "$(basename "$PREFIX")" "$wanted"
    log "WARNING: built from older sources than apt lists; $wanted links to it (remove it to retry)"
  fi
  log "Windows libraries: $PREFIX"
  echo "$PREFIX"
}

main "$@"
