"""Real daemons for marathon-lite's end-to-end tests: a corral-master, two
corral-agents and corral-marathon, each its own process, from the build's
bin directory (CORRAL_BIN_DIR, default build/bin)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "common" / "testing"))
from framework_daemons import (BIN, Daemon, free_port, pytest_runtest_makereport,  # noqa: E402, F401
                               run_cluster, wait_for)

__all__ = ["BIN", "HOSTS", "Cluster", "Daemon", "free_port", "wait_for"]

# Two names of this machine, so that the agents have hostnames of their own
# (for hostname constraints) that still resolve (for readiness checks).
HOSTS = ["127.0.0.1", "localhost"]


class Cluster:
    def __init__(self, root: Path, master_args: list[str] | None = None) -> None:
        self.root = root
        self.master_args = master_args or []
        self.agent_args: list[str] = []
        self.marathon_args: list[str] = []
        self.auth: tuple[str, str] | None = None  # what the REST API requires, when it does
        self.master_port = free_port()
        self.master_url = f"http://127.0.0.1:{self.master_port}"
        self.daemons: list[Daemon] = []
        self.marathon: Daemon | None = None
        self.marathon_port = free_port()
        self.url = f"http://127.0.0.1:{self.marathon_port}"

    def start(self) -> None:
        master = Daemon([str(BIN / "corral-master"), f"--port={self.master_port}",
                         f"--work_dir={self.root}/master", "--allocation_interval=50ms", "--log_level=warning",
                         *self.master_args],
                        self.root / "master.log")
        master.start()
        self.daemons.append(master)
        for i, rack in enumerate(["r1", "r2"]):
            agent = Daemon([str(BIN / "corral-agent"), f"--master=127.0.0.1:{self.master_port}",
                            f"--port={free_port()}", f"--work_dir={self.root}/agent{i}", f"--hostname={HOSTS[i]}",
                            "--resources=cpus:8;mem:4096;disk:4096;ports:[31000-31999]", f"--attributes=rack:{rack}",
                            "--cgroups=false", "--registration_backoff=100ms", "--log_level=warning",
                            *self.agent_args],
                           self.root / f"agent{i}.log")
            agent.start()
            self.daemons.append(agent)
        wait_for(lambda: len(self.master_state()["slaves"]) == 2, what="two agents registered")
        self.start_marathon()

    def start_marathon(self) -> None:
        self.marathon = Daemon([str(BIN / "corral-marathon"), f"--master=127.0.0.1:{self.master_port}",
                                f"--http_port={self.marathon_port}", f"--work_dir={self.root}/marathon",
                                "--reconciliation_interval=5secs", "--log_level=warning", *self.marathon_args],
                               self.root / "marathon.log")
        self.marathon.start()
        wait_for(lambda: requests.get(self.url + "/ping", timeout=2).ok, what="marathon serving")
        wait_for(lambda: requests.get(self.url + "/v2/info", timeout=2, auth=self.auth).json()["frameworkId"],
                 what="subscribed")

    def master_state(self) -> dict[str, Any]:
        r = requests.get(self.master_url + "/master/state", timeout=5)
        r.raise_for_status()
        return dict(r.json())

    def master_tasks(self, *states: str) -> list[dict[str, Any]]:
        """The tasks the master has for marathon in any of `states`
        (TASK_RUNNING when none), from one snapshot of its state."""
        wanted = set(states or ["TASK_RUNNING"])
        out = []
        for fw in self.master_state()["frameworks"]:
            if fw["name"] == "marathon":
                out += [t for t in fw["tasks"] if t["state"] in wanted]
        return out

    def stop(self) -> None:
        if self.marathon:
            self.marathon.stop()
        for d in reversed(self.daemons):
            d.stop()


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    yield from run_cluster(request, Cluster, ["corral-master", "corral-agent", "corral-marathon"], "marathon-e2e-")
