"""The public API is typed: mypy (strict) accepts the package, the examples
and these tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def test_mypy_accepts_the_examples_and_tests(tmp_path: Path) -> None:
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mypy is not installed (pip install .[test])")
    targets = [str(HERE.parent / "corral"), str(HERE.parent / "examples"), str(HERE)]
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                             f"--cache-dir={tmp_path}", *targets],
                            capture_output=True, text=True, timeout=300, cwd=HERE)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
