"""The scheduler API for asyncio programs.

    async with corral.aio.subscribe(corral.framework("pi"), master) as sub:
        async for event in sub:
            if event.type == Event.OFFERS:
                for offer in event.offers.offers:
                    await sub.decline(offer)

Events are the scheduler ``Event`` messages (corral.v1.scheduler_pb2.Event)
in the order the master sent them: SUBSCRIBED, OFFERS, RESCIND, UPDATE,
MESSAGE, FAILURE. The iteration ends when the subscription is closed, and
raises :class:`corral.MasterError` if the master ends it. Calls are
coroutines; they run the driver's blocking call on the loop's default
executor, so the event loop never waits on the master.

Underneath is the same C++ driver as :class:`corral.SchedulerDriver`, with
the same reconnection and failover behaviour.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Callable, TypeVar

from corral.errors import MasterError
from corral.scheduler import OfferLike, Scheduler, SchedulerDriver
from corral.v1 import corral_pb2 as pb
from corral.v1 import scheduler_pb2 as spb

Event = spb.Event
T = TypeVar("T")

_END = object()


def _listed(offers: OfferLike | Iterable[OfferLike]) -> OfferLike | list[OfferLike]:
    # One offer as is; an iterable read now, on the caller's thread, not later
    # on the driver's.
    if isinstance(offers, (str, pb.Offer, pb.InverseOffer, pb.OfferID)):
        return offers
    return list(offers)


class _QueueingDriver(SchedulerDriver):
    """A driver whose events go to an asyncio queue instead of a Scheduler."""

    def __init__(self, sub: Subscription, framework: pb.FrameworkInfo | str, master: str | None,
                 **options: Any) -> None:
        super().__init__(Scheduler(), framework, master, **options)
        self._sub = sub

    def _deliver(self, payload: bytes) -> None:
        event = spb.Event.FromString(payload)
        if event.type == spb.Event.HEARTBEAT:
            return
        self._sub._post(event)


class Subscription:
    """An async iterator of events with awaitable calls; see :func:`subscribe`."""

    def __init__(self, framework: pb.FrameworkInfo | str, master: str | None = None, **options: Any) -> None:
        self._driver = _QueueingDriver(self, framework, master, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._error: MasterError | None = None
        self._ended = False

    # --- life cycle -------------------------------------------------------------

    def _start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._driver.start()

    def _post(self, event: spb.Event) -> None:
        """On the driver's callback thread: hands an event to the loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if event.type == spb.Event.ERROR:
            loop.call_soon_threadsafe(self._end, MasterError(event.error.message))
        else:
            loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def _end(self, error: MasterError | None = None, *, discard: bool = False) -> None:
        if discard:  # close(): events not yet taken are dropped
            while not self._queue.empty():
                self._queue.get_nowait()
        elif self._ended:
            return
        if not self._ended:
            self._ended = True
            self._error = error
        self._queue.put_nowait(_END)

    def __aiter__(self) -> Subscription:
        self._start()
        return self

    async def __anext__(self) -> spb.Event:
        self._start()
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # every later __anext__ ends too
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        assert isinstance(item, spb.Event)
        return item

    async def __aenter__(self) -> Subscription:
        self._start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close(failover=exc_type is not None)

    async def close(self, failover: bool = False) -> None:
        """Ends the subscription: tears the framework down unless ``failover``."""
        if self._loop is not None and not self._ended:
            await self._run(self._driver.stop, failover)
        self._end(discard=True)

    @property
    def framework_id(self) -> str | None:
        return self._driver.framework_id

    @property
    def driver(self) -> SchedulerDriver:
        """The underlying driver (its methods block; prefer the coroutines here)."""
        return self._driver

    # --- calls, as coroutines ----------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))

    async def accept(self, offers: OfferLike | Iterable[OfferLike], operations: Iterable[pb.Offer.Operation],
                     filters: pb.Filters | None = None, *, refuse_seconds: float | None = None) -> None:
        await self._run(self._driver.accept, offers, list(operations), filters, refuse_seconds=refuse_seconds)

    async def launch(self, offer: OfferLike, tasks: pb.TaskInfo | Iterable[pb.TaskInfo],
                     filters: pb.Filters | None = None, *, refuse_seconds: float | None = None) -> None:
        tasks = [tasks] if isinstance(tasks, pb.TaskInfo) else list(tasks)
        await self._run(self._driver.launch, offer, tasks, filters, refuse_seconds=refuse_seconds)

    async def launch_group(self, offer: OfferLike, executor: pb.ExecutorInfo,
                           tasks: pb.TaskInfo | Iterable[pb.TaskInfo], filters: pb.Filters | None = None) -> None:
        tasks = [tasks] if isinstance(tasks, pb.TaskInfo) else list(tasks)
        await self._run(self._driver.launch_group, offer, executor, tasks, filters)

    async def decline(self, offers: OfferLike | Iterable[OfferLike], filters: pb.Filters | None = None, *,
                      refuse_seconds: float | None = None) -> None:
        await self._run(self._driver.decline, _listed(offers), filters, refuse_seconds=refuse_seconds)

    async def accept_inverse_offers(self, offers: OfferLike | Iterable[OfferLike],
                                    filters: pb.Filters | None = None) -> None:
        await self._run(self._driver.accept_inverse_offers, _listed(offers), filters)

    async def decline_inverse_offers(self, offers: OfferLike | Iterable[OfferLike],
                                     filters: pb.Filters | None = None) -> None:
        await self._run(self._driver.decline_inverse_offers, _listed(offers), filters)

    async def kill(self, task_id: str | pb.TaskID, agent_id: str | pb.AgentID | None = None, *,
                   grace_period: float | None = None) -> None:
        await self._run(self._driver.kill, task_id, agent_id, grace_period=grace_period)

    async def acknowledge(self, status: pb.TaskStatus) -> None:
        await self._run(self._driver.acknowledge, status)

    async def reconcile(self, tasks: Iterable[pb.TaskStatus | str | tuple[str, str | None]] = ()) -> None:
        await self._run(self._driver.reconcile, list(tasks))

    async def revive(self, roles: str | Iterable[str] = ()) -> None:
        await self._run(self._driver.revive, roles if isinstance(roles, str) else list(roles))

    async def suppress(self, roles: str | Iterable[str] = ()) -> None:
        await self._run(self._driver.suppress, roles if isinstance(roles, str) else list(roles))

    async def message(self, agent_id: str | pb.AgentID, executor_id: str | pb.ExecutorID, data: bytes) -> None:
        await self._run(self._driver.message, agent_id, executor_id, data)

    async def shutdown(self, executor_id: str | pb.ExecutorID, agent_id: str | pb.AgentID) -> None:
        await self._run(self._driver.shutdown, executor_id, agent_id)

    async def call(self, call: spb.Call) -> None:
        await self._run(self._driver.call, call)


def subscribe(framework: pb.FrameworkInfo | str, master: str | None = None, *,
              implicit_acknowledgements: bool = True, reconnect_backoff: tuple[float, float] = (0.1, 2.0),
              call_timeout: float = 30.0, principal: str | None = None,
              secret: str | None = None) -> Subscription:
    """Subscribes ``framework`` to the master at ``master`` (``host:port``).

    The subscription starts when iteration (or ``async with``) begins. With
    ``implicit_acknowledgements`` (the default) a status update is
    acknowledged once it is queued for the program; pass False and call
    :meth:`Subscription.acknowledge` to acknowledge only what was handled.
    ``principal`` and ``secret`` authenticate it, as for
    :class:`corral.SchedulerDriver`.
    """
    return Subscription(framework, master, implicit_acknowledgements=implicit_acknowledgements,
                        reconnect_backoff=reconnect_backoff, call_timeout=call_timeout, principal=principal,
                        secret=secret)


__all__ = ["Event", "Subscription", "subscribe"]
