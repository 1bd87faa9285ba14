"""Run by test_processes.py: the program ends while its driver still runs
(and while offers keep arriving); the interpreter must exit cleanly."""

from __future__ import annotations

import threading

import corral
from corral import v1
from corral.testing import LocalCluster

subscribed = threading.Event()


class Busy(corral.Scheduler):
    def subscribed(self, driver: corral.SchedulerDriver, framework_id: str, master: v1.MasterInfo) -> None:
        subscribed.set()

    def offers(self, driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
        driver.decline(offers, refuse_seconds=0)  # keeps offers coming


cluster = LocalCluster(agents=1, allocation_interval=0.05)
driver = corral.SchedulerDriver(Busy(), "left-running", cluster.master)
driver.start()
assert subscribed.wait(30)
print("EXITING", flush=True)
