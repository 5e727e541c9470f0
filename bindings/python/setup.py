"""Builds the `metatl._metatl` extension against libmetatl (the Swift engine's C ABI).

The Swift library is built with SwiftPM from the repository root (two levels up) unless
METATL_LIB_DIR names a folder that already holds libmetatl.so. The library is copied into the
package and found through an $ORIGIN run path, so the installed package is self-contained
(apart from the Swift runtime, which libmetatl finds where the toolchain installed it).
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
        target = Path(self.build_lib) / "metatl"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib / "libmetatl.so", target / "libmetatl.so")
        if self.inplace:
            shutil.copy2(lib / "libmetatl.so", HERE / "metatl" / "libmetatl.so")


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
