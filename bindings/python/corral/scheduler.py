"""Writing a framework scheduler: :class:`Scheduler` and :class:`SchedulerDriver`.

The driver is the C++ SDK's driver: it subscribes to the master, reconnects
with backoff and resubscribes with its framework ID when the connection
drops, and acknowledges status updates after ``update()`` returns (unless
``implicit_acknowledgements=False``).

Threading: every :class:`Scheduler` method runs on the driver's callback
thread, one at a time, holding the GIL. Driver methods may be called from
any thread, callbacks included; they release the GIL while they wait for the
master.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Union

from corral import _lifecycle, _native
from corral._ids import id_value, non_negative, strings
from corral.errors import CorralError, PreconditionError, error_for
from corral.v1 import corral_pb2 as pb
from corral.v1 import scheduler_pb2 as spb

Event = spb.Event
Call = spb.Call

#: Anything that names an offer: the Offer, its OfferID, or the ID's string.
OfferLike = Union[pb.Offer, pb.InverseOffer, pb.OfferID, str]


class DriverStatus(enum.IntEnum):
    NOT_STARTED = 0
    RUNNING = 1
    ABORTED = 2
    STOPPED = 3


class Scheduler:
    """Subclass and override the events you care about; the rest are ignored.

    An exception raised here stops the driver (without tearing the framework
    down) and is raised again, with its traceback, from
    :meth:`SchedulerDriver.join` / :meth:`SchedulerDriver.run`. The status
    update being handled is then not acknowledged, so it is sent again later.
    """

    def subscribed(self, driver: SchedulerDriver, framework_id: str, master: pb.MasterInfo) -> None:
        """Subscribed (or subscribed again): ``framework_id`` is the framework's for good."""

    def offers(self, driver: SchedulerDriver, offers: list[pb.Offer]) -> None:
        """Resources offered; launch on them, or decline them."""

    def rescind(self, driver: SchedulerDriver, offer_id: str) -> None:
        """An offer is no longer valid."""

    def inverse_offers(self, driver: SchedulerDriver, offers: list[pb.InverseOffer]) -> None:
        """Maintenance: please move off these agents before their machines' unavailability;
        answer with ``driver.accept_inverse_offers`` or ``driver.decline_inverse_offers``."""

    def rescind_inverse_offer(self, driver: SchedulerDriver, inverse_offer_id: str) -> None:
        """An inverse offer is withdrawn (its machine left the schedule, say)."""

    def update(self, driver: SchedulerDriver, status: pb.TaskStatus) -> None:
        """A task changed state."""

    def message(self, driver: SchedulerDriver, agent_id: str, executor_id: str, data: bytes) -> None:
        """A framework message from an executor."""

    def failure(self, driver: SchedulerDriver, agent_id: str, executor_id: str | None, status: int | None) -> None:
        """An agent was lost (``executor_id`` is None) or an executor exited with wait status ``status``."""

    def error(self, driver: SchedulerDriver, message: str) -> None:
        """The master ended the subscription; the driver has stopped and join() raises MasterError."""

    def disconnected(self, driver: SchedulerDriver) -> None:
        """The connection to the master dropped; the driver is reconnecting."""



def default_master() -> str:
    """``$CORRAL_MASTER``, else ``$MESOS_MASTER``, else ``127.0.0.1:5050``."""
    return os.environ.get("CORRAL_MASTER") or os.environ.get("MESOS_MASTER") or "127.0.0.1:5050"


_ZK_URL = re.compile(r"zk://([^@/]+:[^@/]*@)?[^,/:@]+:\d{1,5}(,[^,/:@]+:\d{1,5})*(/[^/]+)+/?")


def _check_master(master: str) -> str:
    if not isinstance(master, str):
        raise TypeError(f"master: expected 'host:port', got {type(master).__name__}")
    if master.startswith("zk://"):
        # zk://[user:pass@]host:port[,host:port...]/path: the driver follows the elected leader.
        if not _ZK_URL.fullmatch(master):
            raise ValueError(f"master: expected 'zk://[user:pass@]host:port[,host:port...]/path', got {master!r}")
        return master
    host, sep, port = master.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"master: expected 'host:port', got {master!r}")
    return master


def _offer_id(offer: OfferLike, name: str) -> str:
    if isinstance(offer, (pb.Offer, pb.InverseOffer)):
        return offer.id.value
    return id_value(offer, name)


def _offer_ids(offers: OfferLike | Iterable[OfferLike], name: str) -> list[str]:
    if isinstance(offers, (str, pb.Offer, pb.InverseOffer, pb.OfferID)):
        return [_offer_id(offers, name)]
    out = [_offer_id(o, name) for o in offers]
    if not out:
        raise ValueError(f"{name}: at least one offer is required")
    return out


def _filters(filters: pb.Filters | None, refuse_seconds: float | None) -> pb.Filters | None:
    if filters is not None and not isinstance(filters, pb.Filters):
        raise TypeError(f"filters: expected corral.v1.Filters, got {type(filters).__name__}")
    if refuse_seconds is None:
        return filters
    out = pb.Filters()
    if filters is not None:
        out.CopyFrom(filters)
    out.refuse_seconds = non_negative(refuse_seconds, "refuse_seconds")
    return out


def _tasks(tasks: pb.TaskInfo | Iterable[pb.TaskInfo]) -> list[pb.TaskInfo]:
    if isinstance(tasks, pb.TaskInfo):
        return [tasks]
    out = list(tasks)
    for t in out:
        if not isinstance(t, pb.TaskInfo):
            raise TypeError(f"tasks: expected corral.v1.TaskInfo, got {type(t).__name__}")
    return out


class SchedulerDriver(_lifecycle.DriverBase):
    """Runs a :class:`Scheduler` against a Corral master.

    ``framework`` is a :class:`corral.v1.FrameworkInfo` (see
    :func:`corral.framework`) or just the framework's name. ``master`` is the
    master's ``host:port``; it defaults to :func:`default_master`.

    Used as a context manager, the driver starts on entry; on exit it calls
    ``stop()``, which tears the framework down, unless the block raised, in
    which case it stops with ``failover=True`` so that the framework and its
    tasks stay for a restarted scheduler to take over.

    ``principal`` and ``secret`` authenticate the framework where the master
    requires it (``--authenticate_frameworks``); without them the driver
    reads ``CORRAL_PRINCIPAL`` and ``CORRAL_SECRET``, or the credential file
    ``CORRAL_CREDENTIAL`` names. An empty ``framework.principal`` is filled
    with the principal.

    ``tls=True`` (or any of ``tls_ca_file``, ``tls_cert_file``,
    ``tls_key_file``) reaches the master over TLS: its certificate is
    verified against ``tls_ca_file`` (else the system's CAs) and the host
    dialled, and ``tls_cert_file``/``tls_key_file`` are the client
    certificate a master with ``--ssl_require_cert`` asks for. Without them
    the driver follows ``LIBPROCESS_SSL_ENABLED``, ``LIBPROCESS_SSL_CA_FILE``,
    ``LIBPROCESS_SSL_CERT_FILE`` and ``LIBPROCESS_SSL_KEY_FILE``.
    """

    _native: _native.SchedulerDriver

    def __init__(
        self,
        scheduler: Scheduler,
        framework: pb.FrameworkInfo | str,
        master: str | None = None,
        *,
        implicit_acknowledgements: bool = True,
        reconnect_backoff: tuple[float, float] = (0.1, 2.0),
        call_timeout: float = 30.0,
        principal: str | None = None,
        secret: str | None = None,
        tls: bool = False,
        tls_ca_file: str | None = None,
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
    ) -> None:
        if not all(callable(getattr(scheduler, m, None)) for m in ("offers", "update", "subscribed")):
            raise TypeError(f"scheduler: expected a corral.Scheduler, got {type(scheduler).__name__}")
        if isinstance(framework, str):
            if not framework:
                raise ValueError("framework: the name must not be empty")
            framework = pb.FrameworkInfo(name=framework)
        if not isinstance(framework, pb.FrameworkInfo):
            raise TypeError(f"framework: expected corral.v1.FrameworkInfo or a name, got {type(framework).__name__}")
        if not framework.name:
            raise ValueError("framework: 'name' is required")
        master = _check_master(master if master is not None else default_master())
        lo, hi = (non_negative(v, "reconnect_backoff") for v in reconnect_backoff)
        if lo <= 0 or hi < lo:
            raise ValueError("reconnect_backoff: expected (min, max) with 0 < min <= max")
        if non_negative(call_timeout, "call_timeout") <= 0:
            raise ValueError("call_timeout: must be > 0")
        if (principal is None) != (secret is None) or principal == "":
            raise ValueError("principal, secret: give both (a non-empty principal), or neither")
        if (tls_cert_file is None) != (tls_key_file is None):
            raise ValueError("tls_cert_file, tls_key_file: give both, or neither")
        for name, path in (("tls_ca_file", tls_ca_file), ("tls_cert_file", tls_cert_file),
                           ("tls_key_file", tls_key_file)):
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"{name}: no such file {path!r}")

        self._scheduler = scheduler
        self._framework = framework
        self.master = master
        self._error: BaseException | None = None
        self._aborted_by_us = False
        self._native = _native.SchedulerDriver(
            _lifecycle.Sink(self), framework.SerializeToString(), master, bool(implicit_acknowledgements), lo, hi,
            float(call_timeout), principal or "", secret or "", bool(tls), tls_ca_file or "", tls_cert_file or "",
            tls_key_file or "")
        _lifecycle.track(self)
        self._handlers: dict[int, Callable[[spb.Event], None]] = {
            spb.Event.SUBSCRIBED: self._on_subscribed,
            spb.Event.OFFERS: lambda e: self._scheduler.offers(self, list(e.offers.offers)),
            spb.Event.RESCIND: lambda e: self._scheduler.rescind(self, e.rescind.offer_id.value),
            spb.Event.INVERSE_OFFERS: lambda e: self._scheduler.inverse_offers(
                self, list(e.inverse_offers.inverse_offers)),
            spb.Event.RESCIND_INVERSE_OFFER: lambda e: self._scheduler.rescind_inverse_offer(
                self, e.rescind_inverse_offer.inverse_offer_id.value),
            spb.Event.UPDATE: lambda e: self._scheduler.update(self, e.update.status),
            spb.Event.MESSAGE: lambda e: self._scheduler.message(
                self, e.message.agent_id.value, e.message.executor_id.value, e.message.data),
            spb.Event.FAILURE: self._on_failure,
            spb.Event.ERROR: lambda e: self._scheduler.error(self, e.error.message),
        }

    # --- life cycle ---------------------------------------------------------

    @property
    def status(self) -> DriverStatus:
        return DriverStatus(self._native.status())

    @property
    def framework_id(self) -> str | None:
        """The framework's ID once subscribed (or the one it was created with)."""
        return self._native.framework_id() or None

    @property
    def scheduler(self) -> Scheduler:
        return self._scheduler

    def start(self) -> None:
        """Starts subscribing in the background; events arrive on the callback thread."""
        _lifecycle.start(self, self._native.start)

    def stop(self, failover: bool = False) -> None:
        """Stops the driver. ``failover=False`` tears the framework down (its tasks
        are killed); ``failover=True`` only disconnects, so that another
        driver with the same framework ID can take over."""
        if self.status == DriverStatus.NOT_STARTED:
            raise PreconditionError("the driver was never started")
        try:
            self._check(self._native.stop(bool(failover)))
        finally:
            self._forget()

    def abort(self) -> None:
        """Stops the driver at once, without tearing the framework down."""
        self._aborted_by_us = True
        self._check(self._native.abort())
        self._forget()

    def join(self, timeout: float | None = None) -> bool:
        """Waits until the driver stops. Returns False if ``timeout`` passed first.

        Raises the exception a scheduler callback raised, or
        :class:`corral.MasterError` if the master ended the subscription.
        Ctrl-C interrupts the wait (the driver keeps running).
        """
        if self.status == DriverStatus.NOT_STARTED:
            raise PreconditionError("the driver is not running: it was never started")
        result = _lifecycle.join(self._native.join_for, timeout)
        if result is None:
            return False
        self._forget()
        if self._error is not None:
            raise self._error
        code, message = result
        if code != 0 and not self._aborted_by_us:
            raise error_for(code, message)
        return True

    def run(self, *, teardown_on_interrupt: bool = False) -> None:
        """start() then join(). Ctrl-C stops the driver cleanly, with failover
        (the framework stays) unless ``teardown_on_interrupt``, and raises
        KeyboardInterrupt."""
        self.start()
        try:
            self.join()
        except KeyboardInterrupt:
            self.stop(failover=not teardown_on_interrupt)
            raise

    def __enter__(self) -> SchedulerDriver:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.status == DriverStatus.RUNNING:
            self.stop(failover=exc_type is not None)
        self._forget()  # also after an abort the block did not join

    # --- calls ----------------------------------------------------------------

    def accept(self, offers: OfferLike | Iterable[OfferLike], operations: Iterable[pb.Offer.Operation],
               filters: pb.Filters | None = None, *, refuse_seconds: float | None = None) -> None:
        """Accepts offers with any operations (LAUNCH, LAUNCH_GROUP, ...)."""
        c = spb.Call(type=spb.Call.ACCEPT)
        for oid in _offer_ids(offers, "offers"):
            c.accept.offer_ids.add(value=oid)
        for op in operations:
            if not isinstance(op, pb.Offer.Operation):
                raise TypeError(f"operations: expected corral.v1.Offer.Operation, got {type(op).__name__}")
            c.accept.operations.append(op)
        f = _filters(filters, refuse_seconds)
        if f is not None:
            c.accept.filters.CopyFrom(f)
        self.call(c)

    def launch(self, offer: OfferLike, tasks: pb.TaskInfo | Iterable[pb.TaskInfo],
               filters: pb.Filters | None = None, *, refuse_seconds: float | None = None) -> None:
        """Launches tasks on one offer; what the tasks do not use is declined."""
        op = pb.Offer.Operation(type=pb.Offer.Operation.LAUNCH)
        op.launch.task_infos.extend(_tasks(tasks))
        self.accept([offer], [op], filters, refuse_seconds=refuse_seconds)

    def launch_group(self, offer: OfferLike, executor: pb.ExecutorInfo, tasks: pb.TaskInfo | Iterable[pb.TaskInfo],
                     filters: pb.Filters | None = None) -> None:
        """Launches tasks as a group under ``executor`` (the default executor if its type is DEFAULT)."""
        if not isinstance(executor, pb.ExecutorInfo):
            raise TypeError(f"executor: expected corral.v1.ExecutorInfo, got {type(executor).__name__}")
        op = pb.Offer.Operation(type=pb.Offer.Operation.LAUNCH_GROUP)
        op.launch_group.executor.CopyFrom(executor)
        op.launch_group.task_group.tasks.extend(_tasks(tasks))
        self.accept([offer], [op], filters)

    def decline(self, offers: OfferLike | Iterable[OfferLike], filters: pb.Filters | None = None, *,
                refuse_seconds: float | None = None) -> None:
        """Declines offers; ``refuse_seconds`` keeps those resources away from this framework that long."""
        c = spb.Call(type=spb.Call.DECLINE)
        for oid in _offer_ids(offers, "offers"):
            c.decline.offer_ids.add(value=oid)
        f = _filters(filters, refuse_seconds)
        if f is not None:
            c.decline.filters.CopyFrom(f)
        self.call(c)

    def accept_inverse_offers(self, offers: OfferLike | Iterable[OfferLike], filters: pb.Filters | None = None) -> None:
        """Agrees to move off the inverse offers' agents."""
        self._answer_inverse_offers(spb.Call.ACCEPT_INVERSE_OFFERS, offers, filters)

    def decline_inverse_offers(self, offers: OfferLike | Iterable[OfferLike], filters: pb.Filters | None = None) -> None:
        """Declines to move off the inverse offers' agents (the operator sees the answer)."""
        self._answer_inverse_offers(spb.Call.DECLINE_INVERSE_OFFERS, offers, filters)

    def _answer_inverse_offers(self, call_type: spb.Call.Type, offers: OfferLike | Iterable[OfferLike],
                               filters: pb.Filters | None) -> None:
        c = spb.Call(type=call_type)
        answer = c.accept_inverse_offers if call_type == spb.Call.ACCEPT_INVERSE_OFFERS else c.decline_inverse_offers
        for oid in _offer_ids(offers, "offers"):
            answer.inverse_offer_ids.add(value=oid)
        f = _filters(filters, None)
        if f is not None:
            answer.filters.CopyFrom(f)
        self.call(c)

    def kill(self, task_id: str | pb.TaskID, agent_id: str | pb.AgentID | None = None, *,
             grace_period: float | None = None) -> None:
        """Kills a task; ``grace_period`` (seconds) overrides the task's KillPolicy."""
        c = spb.Call(type=spb.Call.KILL)
        c.kill.task_id.value = id_value(task_id, "task_id")
        if agent_id is not None:
            c.kill.agent_id.value = id_value(agent_id, "agent_id")
        if grace_period is not None:
            c.kill.kill_policy.grace_period.nanoseconds = int(non_negative(grace_period, "grace_period") * 1e9)
        self.call(c)

    def acknowledge(self, status: pb.TaskStatus) -> None:
        """Acknowledges a status update (needed with implicit_acknowledgements=False)."""
        if not isinstance(status, pb.TaskStatus):
            raise TypeError(f"status: expected corral.v1.TaskStatus, got {type(status).__name__}")
        if not status.uuid:
            return  # updates without a uuid (reconciliation answers) need no acknowledgement
        c = spb.Call(type=spb.Call.ACKNOWLEDGE)
        c.acknowledge.agent_id.CopyFrom(status.agent_id)
        c.acknowledge.task_id.CopyFrom(status.task_id)
        c.acknowledge.uuid = status.uuid
        self.call(c)

    def reconcile(self, tasks: Iterable[pb.TaskStatus | str | tuple[str, str | None]] = ()) -> None:
        """Asks for the latest state of ``tasks`` (statuses, task IDs, or (task ID,
        agent ID) pairs); with none, of every task of the framework. Answers
        arrive as update() calls."""
        c = spb.Call(type=spb.Call.RECONCILE)
        c.reconcile.SetInParent()
        for t in tasks:
            r = c.reconcile.tasks.add()
            if isinstance(t, pb.TaskStatus):
                r.task_id.CopyFrom(t.task_id)
                if t.HasField("agent_id"):
                    r.agent_id.CopyFrom(t.agent_id)
            elif isinstance(t, tuple):
                r.task_id.value = id_value(t[0], "tasks")
                if t[1] is not None:
                    r.agent_id.value = id_value(t[1], "tasks")
            else:
                r.task_id.value = id_value(t, "tasks")
        self.call(c)

    def revive(self, roles: str | Iterable[str] = ()) -> None:
        """Removes offer filters and asks for offers again (for ``roles``, or all)."""
        c = spb.Call(type=spb.Call.REVIVE)
        c.revive.SetInParent()
        c.revive.roles.extend(strings(roles, "roles"))
        self.call(c)

    def suppress(self, roles: str | Iterable[str] = ()) -> None:
        """Stops offers (for ``roles``, or all) until revive()."""
        c = spb.Call(type=spb.Call.SUPPRESS)
        c.suppress.SetInParent()
        c.suppress.roles.extend(strings(roles, "roles"))
        self.call(c)

    def message(self, agent_id: str | pb.AgentID, executor_id: str | pb.ExecutorID, data: bytes) -> None:
        """Sends a framework message to an executor."""
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        c = spb.Call(type=spb.Call.MESSAGE)
        c.message.agent_id.value = id_value(agent_id, "agent_id")
        c.message.executor_id.value = id_value(executor_id, "executor_id")
        c.message.data = bytes(data)
        self.call(c)

    def shutdown(self, executor_id: str | pb.ExecutorID, agent_id: str | pb.AgentID) -> None:
        """Asks an executor to shut down (its tasks are killed)."""
        c = spb.Call(type=spb.Call.SHUTDOWN)
        c.shutdown.executor_id.value = id_value(executor_id, "executor_id")
        c.shutdown.agent_id.value = id_value(agent_id, "agent_id")
        self.call(c)

    def call(self, call: spb.Call) -> None:
        """Sends any scheduler Call; the framework ID is filled in."""
        if not isinstance(call, spb.Call):
            raise TypeError(f"call: expected corral.v1.scheduler_pb2.Call, got {type(call).__name__}")
        self._check(self._native.call(call.SerializeToString()))

    # --- internals --------------------------------------------------------------

    def _halt(self) -> None:
        self._native.abort()

    def _disconnected(self) -> None:
        self._guarded(self._scheduler.disconnected, self)

    def _deliver(self, payload: bytes) -> None:
        event = spb.Event.FromString(payload)
        handler = self._handlers.get(event.type)
        if handler is not None:
            self._guarded(handler, event)

    def _on_subscribed(self, e: spb.Event) -> None:
        self._scheduler.subscribed(self, e.subscribed.framework_id.value, e.subscribed.master_info)

    def _on_failure(self, e: spb.Event) -> None:
        f = e.failure
        self._scheduler.failure(self, f.agent_id.value, f.executor_id.value if f.HasField("executor_id") else None,
                                f.status if f.HasField("status") else None)


__all__ = ["Scheduler", "SchedulerDriver", "DriverStatus", "CorralError", "default_master"]
