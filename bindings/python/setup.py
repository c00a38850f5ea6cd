"""Builds storeclient, the Python binding of storesd's libstoreclient.

Where libstoreclient is found, in order:
  STORECLIENT_BUILD=DIR   a storesd build tree's build directory (the
                          header is taken from its sibling client/); the
                          module is linked with an rpath to DIR
  pkg-config              an installed libstoreclient (make install)
  ../../build             the tree this directory sits in, built with make
Nothing is downloaded: pip install --no-build-isolation ./bindings/python
works offline with Debian's python3-setuptools.
"""
import os
import shlex
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(os.path.dirname(HERE))


def in_tree(build):
    build = os.path.abspath(build)
    client = os.path.join(os.path.dirname(build), "client")
    if not os.path.isfile(os.path.join(client, "storeclient.h")):
        # build/san and other variants sit one level deeper.
        client = os.path.join(TREE, "client")
    return dict(include_dirs=[client], library_dirs=[build],
                runtime_library_dirs=[build])


def from_pkg_config():
    try:
        out = subprocess.run(
            ["pkg-config", "--cflags", "--libs", "libstoreclient"],
            check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    flags = dict(include_dirs=[], library_dirs=[])
    for f in shlex.split(out):
        if f.startswith("-I"):
            flags["include_dirs"].append(f[2:])
        elif f.startswith("-L"):
            flags["library_dirs"].append(f[2:])
    return flags


def where():
    if os.environ.get("STORECLIENT_BUILD"):
        return in_tree(os.environ["STORECLIENT_BUILD"])
    flags = from_pkg_config()
    if flags is not None:
        return flags
    return in_tree(os.path.join(TREE, "build"))


setup(
    name="storeclient",
    version="1.0.0",
    description="Python client of storesd, over libstoreclient",
    packages=["storeclient"],
    package_data={"storeclient": ["py.typed", "__init__.pyi"]},
    ext_modules=[Extension(
        "storeclient._storeclient", ["src/_storeclient.c"],
        libraries=["storeclient"],
        extra_compile_args=["-std=c11", "-Wall", "-Wextra",
                            "-Wno-missing-field-initializers",
                            "-Wno-cast-function-type"],
        **where())],
    python_requires=">=3.10",
)
