"""Console scripts: the Corral binaries shipped inside the package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from corral import _native

# Installed beside the native modules (which, in an editable install, are
# not beside this file).
BIN_DIR = Path(_native.__file__).resolve().parent / "bin"


def binary(name: str) -> str:
    """Path of a bundled binary: corral, corral-master, corral-agent, corral-default-executor."""
    path = BIN_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is not in {BIN_DIR}; reinstall the corral package")
    return str(path)


def _exec(name: str) -> None:
    path = binary(name)
    os.execv(path, [name, *sys.argv[1:]])


def corral() -> None:
    _exec("corral")


def master() -> None:
    _exec("corral-master")


def agent() -> None:
    _exec("corral-agent")
