"""A LocalCluster for the Mesos HTTP API tests: its master serves HTTP on
the same port as gRPC."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.testing import LocalCluster

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(agents=2, allocation_interval=0.1, resources="cpus:2;mem:2048;disk:4096;ports:[31000-31099]") as c:
        yield c


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "master_args(*flags): extra flags for the master a test starts")
