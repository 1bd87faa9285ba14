"""Run by test_processes.py: starts a long task, says so, then sits in run()
until interrupted with Ctrl-C (SIGINT)."""

from __future__ import annotations

import sys

import corral
from corral import v1


class LongTask(corral.Scheduler):
    def __init__(self) -> None:
        self.launched = False

    def offers(self, driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
        for offer in offers:
            if self.launched:
                driver.decline(offer, refuse_seconds=3600)
                continue
            self.launched = True
            driver.launch(offer, corral.task("long", "sleep 120", corral.resources(cpus=0.1, mem=16),
                                             offer=offer, task_id="long"))

    def update(self, driver: corral.SchedulerDriver, status: v1.TaskStatus) -> None:
        if status.state == v1.TASK_RUNNING:
            print("RUNNING", driver.framework_id, flush=True)


driver = corral.SchedulerDriver(LongTask(), corral.framework("interrupted", failover_timeout=300), sys.argv[1])
driver.run()
