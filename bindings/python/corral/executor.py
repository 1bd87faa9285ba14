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

from collections.abc import Callable

from corral import _lifecycle, _native
from corral._ids import id_value
from corral.errors import PreconditionError
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


class ExecutorDriver(_lifecycle.DriverBase):
    """Runs an :class:`Executor` inside a process started by a Corral agent."""

    _native: _native.ExecutorDriver

    def __init__(self, executor: Executor) -> None:
        if not all(callable(getattr(executor, m, None)) for m in ("launch", "kill")):
            raise TypeError(f"executor: expected a corral.Executor, got {type(executor).__name__}")
        self._executor = executor
        self._error: BaseException | None = None
        self._started = False
        self._native = _native.ExecutorDriver(_lifecycle.Sink(self))
        _lifecycle.track(self)
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
        _lifecycle.start(self, self._native.start)
        self._started = True

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
            raise PreconditionError("the driver was never started")
        result = _lifecycle.join(self._native.join_for, timeout)
        if result is None:
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

    def _halt(self) -> None:
        self._native.stop()

    def _deliver(self, payload: bytes) -> None:
        event = epb.Event.FromString(payload)
        handler = self._handlers.get(event.type)
        if handler is not None:
            self._guarded(handler, event)


__all__ = ["Executor", "ExecutorDriver"]
