"""A test executor: runs each task until killed, answers framework messages
with b"echo:" + message, and reports "fail" tasks through an exception when
asked (to check that the driver surfaces it)."""

from __future__ import annotations

import corral
from corral import v1


class EchoExecutor(corral.Executor):
    def __init__(self) -> None:
        self.tasks: set[str] = set()

    def launch(self, driver: corral.ExecutorDriver, task: v1.TaskInfo) -> None:
        if task.data == b"raise":
            raise RuntimeError("executor callback failed on purpose")
        self.tasks.add(task.task_id.value)
        driver.update(task.task_id, v1.TASK_RUNNING, message="echo executor ready")

    def message(self, driver: corral.ExecutorDriver, data: bytes) -> None:
        if data == b"finish":
            for t in sorted(self.tasks):
                driver.update(t, v1.TASK_FINISHED, data=b"bye")
            self.tasks.clear()
        else:
            driver.send_framework_message(b"echo:" + data)

    def kill(self, driver: corral.ExecutorDriver, task_id: str, kill_policy: v1.KillPolicy | None) -> None:
        self.tasks.discard(task_id)
        driver.update(task_id, v1.TASK_KILLED)


if __name__ == "__main__":
    corral.ExecutorDriver(EchoExecutor()).run()
