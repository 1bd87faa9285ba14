"""Executor for the Monte Carlo π example: each task samples random points
in the unit square and reports how many fell inside the quarter circle."""

from __future__ import annotations

import json
import random
import threading

import corral
from corral import v1


def count_hits(samples: int, seed: int) -> int:
    rng = random.Random(seed)
    hits = 0
    for _ in range(samples):
        x, y = rng.random(), rng.random()
        if x * x + y * y <= 1.0:
            hits += 1
    return hits


class PiExecutor(corral.Executor):
    def launch(self, driver: corral.ExecutorDriver, task: v1.TaskInfo) -> None:
        driver.update(task.task_id, v1.TASK_RUNNING)
        # Work off the callback thread, so that kills and messages still arrive.
        threading.Thread(target=self._run, args=(driver, task), daemon=True).start()

    def _run(self, driver: corral.ExecutorDriver, task: v1.TaskInfo) -> None:
        try:
            job = json.loads(task.data)
            hits = count_hits(int(job["samples"]), int(job["seed"]))
            result = json.dumps({"samples": job["samples"], "hits": hits}).encode()
            driver.update(task.task_id, v1.TASK_FINISHED, data=result)
        except Exception as e:  # a bad task fails alone; the executor keeps serving others
            driver.update(task.task_id, v1.TASK_FAILED, message=f"{type(e).__name__}: {e}")

    def kill(self, driver: corral.ExecutorDriver, task_id: str, kill_policy: v1.KillPolicy | None) -> None:
        driver.update(task_id, v1.TASK_KILLED)


if __name__ == "__main__":
    corral.ExecutorDriver(PiExecutor()).run()
