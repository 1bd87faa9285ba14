"""The asyncio face: async iteration over events, awaitable calls."""

from __future__ import annotations

import asyncio

import pytest

import corral
import corral.aio
from corral import v1
from corral.testing import LocalCluster
from corral.v1.scheduler_pb2 import Event


async def run_tasks(master: str, count: int) -> dict[str, int]:
    final: dict[str, int] = {}
    launched = 0
    async with corral.aio.subscribe(corral.framework("aio"), master) as sub:
        async for event in sub:
            if event.type == Event.SUBSCRIBED:
                assert sub.framework_id == event.subscribed.framework_id.value
            elif event.type == Event.OFFERS:
                for offer in event.offers.offers:
                    pool = corral.ResourcePool(offer)
                    tasks = []
                    while launched < count and (res := pool.take(cpus=0.1, mem=8)) is not None:
                        tasks.append(corral.task(f"aio-{launched}", "true", res, offer=offer))
                        launched += 1
                    if tasks:
                        await sub.launch(offer, tasks)
                    else:
                        await sub.decline(offer, refuse_seconds=3600)
            elif event.type == Event.UPDATE and corral.is_terminal(event.update.status.state):
                final[event.update.status.task_id.value] = event.update.status.state
                if len(final) == count:
                    break
    return final


def test_async_for_launches_tasks_and_sees_them_finish(cluster: LocalCluster) -> None:
    final = asyncio.run(asyncio.wait_for(run_tasks(cluster.master, 10), 60))
    assert len(final) == 10
    assert set(final.values()) == {v1.TASK_FINISHED}


def test_the_event_loop_keeps_running_while_calls_wait(cluster: LocalCluster) -> None:
    async def main() -> int:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        tick_task = asyncio.create_task(ticker())
        sub = corral.aio.subscribe("aio-calls", cluster.master)
        async for event in sub:
            if event.type == Event.OFFERS:
                await sub.decline(list(event.offers.offers), refuse_seconds=3600)
                for _ in range(20):
                    await sub.revive()
                    await sub.suppress()
                break
        await sub.close()
        stop.set()
        await tick_task
        # The iteration has ended for good.
        async for _ in sub:
            raise AssertionError("no events after close()")
        return ticks

    assert asyncio.run(asyncio.wait_for(main(), 60)) > 0


def test_a_refused_subscription_raises_master_error(cluster: LocalCluster) -> None:
    async def main() -> None:
        async for _ in corral.aio.subscribe(corral.framework("bad", roles=["bad role"]), cluster.master):
            pass

    with pytest.raises(corral.MasterError, match="roles"):
        asyncio.run(asyncio.wait_for(main(), 30))


def test_call_errors_raise_from_the_coroutine(cluster: LocalCluster) -> None:
    async def main() -> None:
        async with corral.aio.subscribe("aio-errors", cluster.master) as sub:
            async for event in sub:
                if event.type == Event.SUBSCRIBED:
                    await sub.revive(["not-my-role"])

    with pytest.raises(corral.InvalidCallError, match="not-my-role"):
        asyncio.run(asyncio.wait_for(main(), 30))
