"""Writing a custom executor: :class:`Executor` and :class:`ExecutorDriver`.

An agent starts the executor's command with ``MESOS_AGENT_ENDPOINT``,
``MESOS_FRAMEWORK_ID`` and ``MESOS_EXECUTOR_ID`` in its environment; the
driver reads them, subscribes to the agent and delivers its events to the
:class:`Executor`. Status updates are kept until the agent acknowledges them
and are resent after a reconnection.

Threading: Executor methods run one at a time on the driver's callback
thread; driver methods may be called from any thread.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from corral import _native, _shutdown
from corral._ids import id_value, non_negative
from corral.errors import NotRunningError, error_for
from corral.helpers import state_name
from corral.v1 import corral_pb2 as pb
from corral.v1 import executor_pb2 as epb


class Executor:
    """Subclass and override what your executor handles.

    An exception raised here stops the driver and is raised again from
    :meth:`ExecutorDriver.join` / :meth:`ExecutorDriver.run`.
    """

    def subscribed(self, driver: ExecutorDriver, executor: pb.ExecutorInfo, framework: pb.FrameworkInfo,
                   agent: pb.AgentInfo) -> None:
        """Connected to the agent."""

    def launch(self, driver: ExecutorDriver, task: pb.TaskInfo) -> None:
        """Run ``task``, and report its states with :meth:`ExecutorDriver.update`."""

    def launch_group(self, driver: ExecutorDriver, tasks: list[pb.TaskInfo]) -> None:
        """Run a task group (all of ``tasks``, together)."""

    def kill(self, driver: ExecutorDriver, task_id: str, kill_policy: pb.KillPolicy | None) -> None:
        """Kill a task, then report TASK_KILLED."""

    def acknowledged(self, driver: ExecutorDriver, task_id: str, uuid: bytes) -> None:
        """The agent acknowledged a status update."""

    def message(self, driver: ExecutorDriver, data: bytes) -> None:
        """A framework message from the scheduler."""

    def shutdown(self, driver: ExecutorDriver) -> None:
        """The agent asks the executor to kill its tasks and exit; the driver stops after this."""

    def error(self, driver: ExecutorDriver, message: str) -> None:
        """The agent reported an error."""


# Running drivers, kept alive while the program holds no reference.
_live: set[ExecutorDriver] = set()
_live_lock = threading.Lock()


class _Sink:
    __slots__ = ("_driver",)

    def __init__(self, driver: ExecutorDriver) -> None:
        self._driver = weakref.ref(driver)

    def _on_event(self, payload: bytes) -> None:
        d = self._driver()
        if d is not None:
            d._deliver(payload)


class ExecutorDriver:
    """Runs an :class:`Executor` inside a process started by a Corral agent."""

    def __init__(self, executor: Executor) -> None:
        if not all(callable(getattr(executor, m, None)) for m in ("launch", "kill")):
            raise TypeError(f"executor: expected a corral.Executor, got {type(executor).__name__}")
        self._executor = executor
        self._error: BaseException | None = None
        self._started = False
        self._native = _native.ExecutorDriver(_Sink(self))
        _shutdown.track(self)
        E = epb.Event
        self._handlers: dict[int, Callable[[epb.Event], None]] = {
            E.SUBSCRIBED: lambda e: executor.subscribed(
                self, e.subscribed.executor_info, e.subscribed.framework_info, e.subscribed.agent_info),
            E.LAUNCH: lambda e: executor.launch(self, e.launch.task),
            E.LAUNCH_GROUP: lambda e: executor.launch_group(self, list(e.launch_group.task_group.tasks)),
            E.KILL: lambda e: executor.kill(
                self, e.kill.task_id.value, e.kill.kill_policy if e.kill.HasField("kill_policy") else None),
            E.ACKNOWLEDGED: lambda e: executor.acknowledged(self, e.acknowledged.task_id.value, e.acknowledged.uuid),
            E.MESSAGE: lambda e: executor.message(self, e.message.data),
            E.SHUTDOWN: lambda e: executor.shutdown(self),
            E.ERROR: lambda e: executor.error(self, e.error.message),
        }

    @property
    def executor(self) -> Executor:
        return self._executor

    def start(self) -> None:
        with _live_lock:
            self._check(self._native.start())
            self._started = True
            _live.add(self)

    def stop(self) -> None:
        try:
            self._check(self._native.stop())
        finally:
            self._forget()

    def join(self, timeout: float | None = None) -> bool:
        """Waits until the driver stops (after a shutdown, stop(), or a lost
        agent). Returns False if ``timeout`` passed first; raises what an
        Executor method raised."""
        if not self._started:
            raise NotRunningError("the driver was never started")
        deadline = None if timeout is None else time.monotonic() + non_negative(timeout, "timeout")
        while True:
            step = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
            result = self._native.join_for(step)
            if result is not None:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return False
        self._forget()
        if self._error is not None:
            raise self._error
        self._check(result)
        return True

    def run(self) -> None:
        """start() then join(); Ctrl-C stops the driver and raises KeyboardInterrupt."""
        self.start()
        try:
            self.join()
        except KeyboardInterrupt:
            self.stop()
            raise

    def send_status_update(self, status: pb.TaskStatus) -> None:
        """Sends a status update; uuid, timestamp, source and executor ID are filled in."""
        if not isinstance(status, pb.TaskStatus):
            raise TypeError(f"status: expected corral.v1.TaskStatus, got {type(status).__name__}")
        self._check(self._native.send_status_update(status.SerializeToString()))

    def update(self, task_id: str | pb.TaskID, state: int, *, message: str | None = None,
               data: bytes | None = None, healthy: bool | None = None) -> None:
        """Reports ``state`` (e.g. ``corral.v1.TASK_RUNNING``) for a task."""
        state_name(state)  # raises ValueError for a number that is no TaskState
        st = pb.TaskStatus()
        st.state = state  # type: ignore[assignment]
        st.task_id.value = id_value(task_id, "task_id")
        if message is not None:
            st.message = message
        if data is not None:
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError(f"data: expected bytes, got {type(data).__name__}")
            st.data = bytes(data)
        if healthy is not None:
            st.healthy = bool(healthy)
        self.send_status_update(st)

    def send_framework_message(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        self._check(self._native.send_framework_message(bytes(data)))

    @staticmethod
    def _check(result: tuple[int, str]) -> None:
        if result[0] != 0:
            raise error_for(result[0], result[1])

    def _close(self) -> None:
        self._forget()
        self._native.close()

    def _forget(self) -> None:
        with _live_lock:
            _live.discard(self)

    def _deliver(self, payload: bytes) -> None:
        if self._error is not None:
            return
        event = epb.Event.FromString(payload)
        handler = self._handlers.get(event.type)
        if handler is None:
            return
        try:
            handler(event)
        except BaseException as e:  # noqa: BLE001 - re-raised from join()
            self._error = e
            self._native.stop()


__all__ = ["Executor", "ExecutorDriver"]
