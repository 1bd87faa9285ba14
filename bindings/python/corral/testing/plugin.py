"""pytest plugin (registered by the package): the ``local_cluster`` fixture.

    def test_launch(local_cluster):
        driver = corral.SchedulerDriver(MyScheduler(), "mine", local_cluster.master)

The fixture is a started :class:`corral.testing.LocalCluster` with two
agents, closed after the test. For other sizes, use the class directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corral.testing import LocalCluster


@pytest.fixture
def local_cluster() -> Iterator[LocalCluster]:
    with LocalCluster(agents=2) as cluster:
        yield cluster
