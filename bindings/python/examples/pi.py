"""Monte Carlo π on a Corral cluster: the work is split into tasks, each run
by a Python executor (pi_executor.py) on whichever agent has room; the
scheduler adds up what the tasks report.

    python pi.py --master 127.0.0.1:5050 --tasks 8 --samples 200000
    python pi.py --local            # starts a two-agent cluster in-process
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import corral
from corral import v1

EXECUTOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pi_executor.py")


class PiScheduler(corral.Scheduler):
    def __init__(self, tasks: int, samples: int) -> None:
        self.pending = list(range(tasks))
        self.samples = samples
        self.running: set[str] = set()
        self.hits = 0
        self.total = 0
        self.failed: list[str] = []
        self.executor = corral.executor("pi", [sys.executable, EXECUTOR],
                                        resources=corral.resources(cpus=0.1, mem=64))

    def offers(self, driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
        for offer in offers:
            pool = corral.ResourcePool(offer)
            # The first task on an agent also pays for the executor it starts.
            pool.take(cpus=0.1, mem=64)
            tasks = []
            while self.pending and (res := pool.take(cpus=0.5, mem=32)) is not None:
                n = self.pending.pop()
                job = json.dumps({"samples": self.samples, "seed": n}).encode()
                tasks.append(corral.task(f"pi-{n}", self.executor, res, offer=offer, data=job))
                self.running.add(tasks[-1].task_id.value)
            if tasks:
                driver.launch(offer, tasks)
            else:
                driver.decline(offer, refuse_seconds=30)

    def update(self, driver: corral.SchedulerDriver, status: v1.TaskStatus) -> None:
        if not corral.is_terminal(status.state):
            return
        self.running.discard(status.task_id.value)
        if status.state == v1.TASK_FINISHED:
            result = json.loads(status.data)
            self.hits += result["hits"]
            self.total += result["samples"]
        else:
            self.failed.append(f"{status.task_id.value}: {corral.state_name(status.state)} {status.message}")
        if not self.pending and not self.running:
            driver.stop()

    @property
    def estimate(self) -> float:
        return 4.0 * self.hits / self.total if self.total else float("nan")


def run(master: str, tasks: int, samples: int) -> PiScheduler:
    scheduler = PiScheduler(tasks, samples)
    corral.SchedulerDriver(scheduler, corral.framework("monte-carlo-pi"), master).run()
    return scheduler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--master", default=corral.default_master())
    parser.add_argument("--local", action="store_true", help="run on an in-process two-agent cluster")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--samples", type=int, default=200_000)
    args = parser.parse_args()
    if args.local:
        from corral.testing import LocalCluster

        with LocalCluster(agents=2) as cluster:
            result = run(cluster.master, args.tasks, args.samples)
    else:
        result = run(args.master, args.tasks, args.samples)
    for line in result.failed:
        print("failed:", line, file=sys.stderr)
    print(f"pi ~= {result.estimate:.5f} from {result.total} samples in {args.tasks} tasks")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
