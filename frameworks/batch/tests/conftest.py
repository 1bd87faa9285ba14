"""Real daemons for batch's end-to-end tests: a corral-master, a
corral-agent and corral-batch, each its own process, from the build's bin
directory (CORRAL_BIN_DIR, default build/bin)."""

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

__all__ = ["Batch", "wait_for"]


class Batch:
    """A master, one agent and corral-batch; `url` is batch's HTTP API."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.master_port = free_port()
        self.master_url = f"http://127.0.0.1:{self.master_port}"
        self.daemons: list[Daemon] = []
        self.batch: Daemon | None = None
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self.master_args: list[str] = []
        self.agent_args: list[str] = []
        self.batch_args: list[str] = []
        self.auth: tuple[str, str] | None = None  # what the HTTP API requires, when it does

    def start(self) -> None:
        master = Daemon([str(BIN / "corral-master"), f"--port={self.master_port}", f"--work_dir={self.root}/master",
                         "--allocation_interval=50ms", "--log_level=warning", *self.master_args],
                        self.root / "master.log")
        master.start()
        self.daemons.append(master)
        agent = Daemon([str(BIN / "corral-agent"), f"--master=127.0.0.1:{self.master_port}", f"--port={free_port()}",
                        f"--work_dir={self.root}/agent", "--resources=cpus:16;mem:8192;disk:8192",
                        "--cgroups=false", "--registration_backoff=100ms", "--log_level=warning",
                        *self.agent_args],
                       self.root / "agent.log")
        agent.start()
        self.daemons.append(agent)
        wait_for(lambda: len(self.master_state()["slaves"]) == 1, what="the agent registered")
        self.start_batch()

    def start_batch(self) -> None:
        self.batch = Daemon([str(BIN / "corral-batch"), f"--master=127.0.0.1:{self.master_port}",
                             f"--http_port={self.port}", f"--work_dir={self.root}/batch",
                             "--reconciliation_interval=5secs", "--log_level=warning", *self.batch_args],
                            self.root / "batch.log")
        self.batch.start()
        wait_for(lambda: requests.get(self.url + "/ping", timeout=2).ok, what="batch serving")
        wait_for(lambda: requests.get(self.url + "/info", timeout=2, auth=self.auth).json()["frameworkId"],
                 what="subscribed")

    def master_state(self) -> dict[str, Any]:
        r = requests.get(self.master_url + "/master/state", timeout=5)
        r.raise_for_status()
        return dict(r.json())

    def master_tasks(self, name: str) -> list[dict[str, Any]]:
        """Every task of job `name` the master knows, running or completed."""
        out = []
        for fw in self.master_state()["frameworks"]:
            if fw["name"] == "batch":
                out += [t for t in fw["tasks"] + fw.get("completed_tasks", []) if t["name"] == name]
        return out

    def job(self, job_id: str, embed: str = "history") -> dict[str, Any]:
        r = requests.get(f"{self.url}/v1/jobs/{job_id}", params={"embed": embed}, timeout=5)
        r.raise_for_status()
        return dict(r.json())

    def stop(self) -> None:
        if self.batch:
            self.batch.stop()
        for d in reversed(self.daemons):
            d.stop()


@pytest.fixture
def batch(request: pytest.FixtureRequest) -> Iterator[Batch]:
    yield from run_cluster(request, Batch, ["corral-master", "corral-agent", "corral-batch"], "batch-e2e-")
