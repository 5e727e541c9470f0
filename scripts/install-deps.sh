#!/usr/bin/env bash
# Installs what building and testing MetaTL needs on Debian/Ubuntu, if it is missing: OpenBLAS
# (CBLAS headers and library), faiss, xxHash's header, what the Python bindings build with, patchelf and
# pkg-config (installing). Swift itself (6.x) is
# expected on PATH.
set -euo pipefail
missing=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || missing+=(libopenblas-dev)
# faiss (k-means and nearest centroids for the approximate index; a static library, with OpenMP's
# runtime libgomp, which gcc brings).
dpkg -s libfaiss-dev >/dev/null 2>&1 || missing+=(libfaiss-dev)
# xxHash's header: checkpoint checksums (compiled in; nothing is needed at run time).
dpkg -s libxxhash-dev >/dev/null 2>&1 || missing+=(libxxhash-dev)
# The Python bindings: headers for pybind11 modules (pip brings pybind11 itself when building).
dpkg -s libpython3-dev >/dev/null 2>&1 || missing+=(libpython3-dev)
dpkg -s pybind11-dev >/dev/null 2>&1 || missing+=(pybind11-dev)
# `make install` and the Python wheel: the installed libraries' SONAME and run paths.
dpkg -s patchelf >/dev/null 2>&1 || missing+=(patchelf)
# `make test-install`: the C example is compiled with `pkg-config --cflags --libs metatl`.
command -v pkg-config >/dev/null || missing+=(pkg-config)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
