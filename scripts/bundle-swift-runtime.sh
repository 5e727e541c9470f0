#!/usr/bin/env bash
# bundle-swift-runtime.sh DEST FILE...
# Copies the Swift runtime libraries that the ELF files FILE... load into DEST, each with the
# run path $ORIGIN (so they find one another there), and prints their names. The Swift runtime
# is what ldd resolves into the folder libswiftCore.so comes from (the toolchain's lib/swift/linux):
# libswift*, Foundation, libdispatch, libBlocksRuntime, ICU. System libraries (libc, libm,
# OpenBLAS, libstdc++) are left to the system. Used by `make install` and the Python wheel.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DEST FILE..." >&2; exit 2; }
dest=$1; shift
command -v patchelf >/dev/null || { echo "patchelf is needed (Debian: apt-get install patchelf)" >&2; exit 1; }
deps=$(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u)
core=$(awk '$1 == "libswiftCore.so" { print $2; exit }' <<<"$deps")
[ -n "$core" ] || { echo "$0: libswiftCore.so is not among the libraries $* load" >&2; exit 1; }
runtime=$(dirname "$(readlink -f "$core")")
mkdir -p "$dest"
while read -r name path; do
    [ "$(dirname "$(readlink -f "$path")")" = "$runtime" ] || continue
    install -m 755 "$path" "$dest/$name"
    [ "$(patchelf --print-rpath "$dest/$name")" = '$ORIGIN' ] || patchelf --set-rpath '$ORIGIN' "$dest/$name"
    echo "$name"
done <<<"$deps"
