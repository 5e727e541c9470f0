"""Builds the `metatl._metatl` extension against libmetatl (the Swift engine's C ABI).

The Swift library is built with SwiftPM from the repository root (two levels up) unless
METATL_LIB_DIR names a folder that already holds libmetatl.so. The library and the Swift runtime
libraries it loads (libswiftCore, Foundation, libdispatch, ..., found with ldd by
scripts/bundle-swift-runtime.sh) are copied into the package, and every one of them and the
extension get the run path $ORIGIN (patchelf), so the installed package, and a wheel built with
`pip wheel ./bindings/python`, need no Swift toolchain: only the system's libc, libstdc++ and
OpenBLAS (Debian: libopenblas0).
"""
import os
import shutil
import subprocess
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def library_dir() -> Path:
    given = os.environ.get("METATL_LIB_DIR")
    if given:
        return Path(given).resolve()
    swift = shutil.which("swift") or "/opt/swift/usr/bin/swift"
    subprocess.check_call([swift, "build", "-c", "release", "--product", "metatl"], cwd=ROOT)
    return ROOT / ".build" / "release"


class BuildWithSwift(build_ext):
    def run(self):
        lib = library_dir()
        if not (lib / "libmetatl.so").exists():
            raise RuntimeError(f"libmetatl.so not found in {lib}")
        for ext in self.extensions:
            ext.library_dirs.append(str(lib))
        super().run()
        if self.inplace:
            shutil.copy2(lib / "libmetatl.so", HERE / "metatl" / "libmetatl.so")
            return
        target = Path(self.build_lib) / "metatl"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib / "libmetatl.so", target / "libmetatl.so")
        # The runtime the built library loads (ldd resolves it through its toolchain run path).
        subprocess.check_call(
            ["bash", str(ROOT / "scripts" / "bundle-swift-runtime.sh"), str(target), str(lib / "libmetatl.so")],
            stdout=subprocess.DEVNULL,
        )
        for module in [target / "libmetatl.so", *map(Path, self.get_outputs())]:
            subprocess.check_call(["patchelf", "--set-rpath", "$ORIGIN", str(module)])


setup(
    ext_modules=[
        Pybind11Extension(
            "metatl._metatl",
            ["src/_metatl.cpp"],
            include_dirs=[str(ROOT / "include")],
            libraries=["metatl"],
            extra_link_args=["-Wl,-rpath,$ORIGIN"],
            cxx_std=17,
        )
    ],
    cmdclass={"build_ext": BuildWithSwift},
)
