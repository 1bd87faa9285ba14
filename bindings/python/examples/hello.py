"""The smallest framework: run one shell command on the cluster and exit
with its status.

    python hello.py --master 127.0.0.1:5050 "echo hello from Corral"
"""

from __future__ import annotations

import argparse
import sys

import corral
from corral import v1


class RunOnce(corral.Scheduler):
    def __init__(self, command: str) -> None:
        self.command = command
        self.launched = False
        self.final: v1.TaskStatus | None = None

    def offers(self, driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
        for offer in offers:
            res = corral.ResourcePool(offer).take(cpus=0.1, mem=32)
            if self.launched or res is None:
                driver.decline(offer, refuse_seconds=60)
                continue
            driver.launch(offer, corral.task("hello", self.command, res, offer=offer))
            self.launched = True

    def update(self, driver: corral.SchedulerDriver, status: v1.TaskStatus) -> None:
        print(corral.state_name(status.state), status.message)
        if corral.is_terminal(status.state):
            self.final = status
            driver.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", default=corral.default_master())
    parser.add_argument("command", nargs="?", default="echo hello from Corral")
    args = parser.parse_args()
    scheduler = RunOnce(args.command)
    corral.SchedulerDriver(scheduler, "hello", args.master).run()
    return 0 if scheduler.final is not None and scheduler.final.state == v1.TASK_FINISHED else 1


if __name__ == "__main__":
    sys.exit(main())
