"""The scheduler driver against a real in-process cluster."""

from __future__ import annotations

import gc
import threading
import time
import traceback
from pathlib import Path

import pytest

import corral
from corral import v1
from corral.v1 import internal_pb2
import corral.testing
from corral.testing import LocalCluster
from conftest import Recorder, launch_on_first_offer


def test_launch_100_tasks_and_see_them_finish(cluster: LocalCluster) -> None:
    rec = Recorder()
    pending = list(range(100))

    def on_offers(driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
        for offer in offers:
            pool = corral.ResourcePool(offer)
            tasks = []
            while pending and (res := pool.take(cpus=0.05, mem=8)) is not None:
                tasks.append(corral.task(f"t{pending.pop()}", "true", res, offer=offer))
            if tasks:
                driver.launch(offer, tasks)
            else:
                driver.decline(offer, refuse_seconds=3600)
    rec.on_offers = on_offers

    with corral.SchedulerDriver(rec, "hundred", cluster.master) as driver:
        finished = rec.wait(lambda: [u for u in rec.updates if u.state == v1.TASK_FINISHED]
                            if sum(u.state == v1.TASK_FINISHED for u in rec.updates) == 100 else None, 60)
        assert driver.framework_id == rec.framework_id
    assert len({u.task_id.value for u in finished}) == 100
    assert not [u for u in rec.updates if u.state in (v1.TASK_FAILED, v1.TASK_LOST, v1.TASK_ERROR)]
    # Both agents took work.
    assert len({u.agent_id.value for u in finished}) == 2
    # Leaving the with-block tore the framework down.
    cluster.wait_for(lambda s: not any(f.framework_info.id.value == rec.framework_id for f in s.frameworks))


def test_kill_a_running_task(cluster: LocalCluster) -> None:
    rec = Recorder()
    launch_on_first_offer(rec, lambda o: [corral.task("sleeper", "sleep 60", corral.resources(cpus=0.1, mem=16),
                                                      offer=o, task_id="sleeper")])
    with corral.SchedulerDriver(rec, "killer", cluster.master) as driver:
        running = rec.wait_state("sleeper", v1.TASK_RUNNING)
        driver.kill("sleeper", running.agent_id, grace_period=1)
        killed = rec.wait_state("sleeper", v1.TASK_KILLED)
        assert killed.agent_id == running.agent_id


def test_reconcile_known_and_unknown_tasks(cluster: LocalCluster) -> None:
    rec = Recorder()
    launch_on_first_offer(rec, lambda o: [corral.task("r", "sleep 60", corral.resources(cpus=0.1, mem=16),
                                                      offer=o, task_id="r")])
    with corral.SchedulerDriver(rec, "reconciler", cluster.master) as driver:
        rec.wait_state("r", v1.TASK_RUNNING)
        seen = len(rec.updates)
        driver.reconcile()  # implicit: every task of the framework
        answer = rec.wait(lambda: next((u for u in rec.updates[seen:] if u.task_id.value == "r"), None))
        assert answer.state == v1.TASK_RUNNING
        assert answer.reason == v1.TaskStatus.REASON_RECONCILIATION
        assert not answer.uuid  # reconciliation answers need no acknowledgement
        driver.reconcile(["no-such-task"])
        unknown = rec.wait(lambda: next((u for u in rec.updates if u.task_id.value == "no-such-task"), None))
        assert unknown.state == v1.TASK_LOST  # not partition-aware, as Mesos answers
        driver.reconcile([("r", answer.agent_id.value)])
        rec.wait(lambda: sum(u.task_id.value == "r" and u.reason == v1.TaskStatus.REASON_RECONCILIATION
                             for u in rec.updates) >= 2)


def test_decline_with_filters_and_revive(cluster: LocalCluster) -> None:
    rec = Recorder()
    declined = threading.Event()

    def on_offers(driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
        driver.decline(offers, refuse_seconds=3600)
        declined.set()
    rec.on_offers = on_offers
    with corral.SchedulerDriver(rec, "decliner", cluster.master) as driver:
        rec.wait(lambda: len({o.agent_id.value for o in rec.offers_seen}) == 2)
        assert declined.wait(10)
        count = len(rec.offers_seen)
        # Many allocation cycles (every 0.2 s) pass: the filter holds them back.
        with pytest.raises(TimeoutError):
            rec.wait(lambda: len(rec.offers_seen) > count, timeout=1.5)
        driver.revive()
        rec.wait(lambda: len(rec.offers_seen) > count)


def test_failover_to_a_second_driver(cluster: LocalCluster) -> None:
    first = Recorder()
    launch_on_first_offer(first, lambda o: [corral.task("survivor", "sleep 60", corral.resources(cpus=0.1, mem=16),
                                                        offer=o, task_id="survivor")])
    info = corral.framework("failover", failover_timeout=60)
    d1 = corral.SchedulerDriver(first, info, cluster.master)
    d1.start()
    first.wait_state("survivor", v1.TASK_RUNNING)
    fid = first.framework_id
    assert fid
    d1.stop(failover=True)
    assert d1.status == corral.DriverStatus.STOPPED

    second = Recorder()
    second.on_offers = lambda d, offers: d.decline(offers, refuse_seconds=3600)
    with corral.SchedulerDriver(second, corral.framework("failover", failover_timeout=60, framework_id=fid),
                                cluster.master) as d2:
        second.wait(lambda: second.framework_id)
        assert second.framework_id == fid
        d2.reconcile()
        second.wait_state("survivor", v1.TASK_RUNNING)
        d2.kill("survivor")
        second.wait_state("survivor", v1.TASK_KILLED)


class Boom(RuntimeError):
    pass


class Exploding(corral.Scheduler):
    def offers(self, driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
        self.blow_up(len(offers))

    def blow_up(self, n: int) -> None:
        raise Boom(f"scheduler bug with {n} offers")


def test_exception_in_a_callback_is_raised_from_run(cluster: LocalCluster) -> None:
    driver = corral.SchedulerDriver(Exploding(), corral.framework("exploding", failover_timeout=60), cluster.master)
    started = time.monotonic()
    with pytest.raises(Boom, match="scheduler bug") as info:
        driver.run()
    assert time.monotonic() - started < 20
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "blow_up" in frames and "offers" in frames  # the original traceback
    assert driver.status == corral.DriverStatus.ABORTED
    # Aborting is not tearing down: the framework stays, disconnected, for failover.
    fid = driver.framework_id
    cluster.wait_for(lambda s: any(f.framework_info.id.value == fid and not f.connected for f in s.frameworks))


def test_scheduler_and_driver_outlive_the_program_s_references(cluster: LocalCluster) -> None:
    done = threading.Event()

    class Finisher(corral.Scheduler):
        def offers(self, driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
            for o in offers:
                if not getattr(self, "launched", False):
                    self.launched = True
                    driver.launch(o, corral.task("t", "true", corral.resources(cpus=0.1, mem=8), offer=o))
                else:
                    driver.decline(o, refuse_seconds=3600)

        def update(self, driver: corral.SchedulerDriver, status: v1.TaskStatus) -> None:
            if status.state == v1.TASK_FINISHED:
                done.set()
                driver.stop()  # from the callback thread; the driver is then dropped there

    corral.SchedulerDriver(Finisher(), "orphan", cluster.master).start()
    gc.collect()
    assert done.wait(30)


def test_calls_before_start_and_bad_calls_raise_corral_errors(cluster: LocalCluster) -> None:
    rec = Recorder()
    driver = corral.SchedulerDriver(rec, "errors", cluster.master)
    with pytest.raises(corral.PreconditionError, match="not running"):
        driver.revive()
    with pytest.raises(corral.PreconditionError):
        driver.join()
    rec.on_offers = lambda d, offers: d.decline(offers, refuse_seconds=3600)
    with driver:
        rec.wait(lambda: rec.framework_id)
        with pytest.raises(corral.InvalidCallError, match="not subscribed to role 'nope'") as info:
            driver.revive(["nope"])
        assert info.value.code == 3


def test_a_refused_subscription_ends_run_with_the_master_s_message(cluster: LocalCluster) -> None:
    rec = Recorder()
    bad = corral.framework("bad-role", roles=["bad role"])
    with pytest.raises(corral.MasterError, match="roles"):
        corral.SchedulerDriver(rec, bad, cluster.master).run()
    assert rec.errors and "roles" in rec.errors[0]


def test_bad_arguments_name_the_argument(cluster: LocalCluster) -> None:
    with pytest.raises(TypeError, match="scheduler"):
        corral.SchedulerDriver(object(), "x", cluster.master)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="master"):
        corral.SchedulerDriver(corral.Scheduler(), "x", "no-port-here")
    with pytest.raises(ValueError, match="master.*zk://"):
        corral.SchedulerDriver(corral.Scheduler(), "x", "zk://h:2181")  # no path
    with pytest.raises(TypeError, match="framework"):
        corral.SchedulerDriver(corral.Scheduler(), 42, cluster.master)  # type: ignore[arg-type]
    rec = Recorder()
    rec.on_offers = lambda d, offers: d.decline(offers, refuse_seconds=3600)
    with corral.SchedulerDriver(rec, "args", cluster.master) as driver:
        rec.wait(lambda: rec.framework_id)
        with pytest.raises(TypeError, match="task_id"):
            driver.kill(123)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="refuse_seconds"):
            driver.decline("some-offer", refuse_seconds=-1)
        with pytest.raises(TypeError, match="tasks"):
            driver.launch("some-offer", ["not a task"])  # type: ignore[list-item]
        with pytest.raises(TypeError, match="data"):
            driver.message("a", "e", "text")  # type: ignore[arg-type]


def test_an_exception_in_a_with_block_keeps_the_framework(cluster: LocalCluster) -> None:
    rec = Recorder()
    rec.on_offers = lambda d, offers: d.decline(offers, refuse_seconds=3600)
    with pytest.raises(KeyError):
        with corral.SchedulerDriver(rec, corral.framework("kept", failover_timeout=60), cluster.master):
            rec.wait(lambda: rec.framework_id)
            raise KeyError("application error")
    # stop(failover=True): disconnected, not torn down.
    def disconnected(state: internal_pb2.ClusterState) -> bool:
        fw = [f for f in state.frameworks if f.framework_info.id.value == rec.framework_id]
        assert fw, "the framework was torn down"
        return not fw[0].connected
    cluster.wait_for(disconnected)


def test_the_pytest_fixture_gives_a_running_two_agent_cluster(local_cluster: LocalCluster) -> None:
    state = local_cluster.state()
    assert len(state.agents) == 2 and local_cluster.agent_count == 2
    rec = Recorder()
    launch_on_first_offer(rec, lambda o: [corral.task("fx", "exit 7", corral.resources(cpus=0.1, mem=8),
                                                      offer=o, task_id="fx")])
    with corral.SchedulerDriver(rec, "fixture", local_cluster.master):
        failed = rec.wait_state("fx", v1.TASK_FAILED)
        assert "7" in failed.message  # the exit code reaches the scheduler


def test_fetched_uris_and_a_health_check_from_python(cluster: LocalCluster, tmp_path: Path) -> None:
    (tmp_path / "greeting.txt").write_text("hello from a URI\n")
    rec = Recorder()
    check = corral.health_check(command="test -s greeting.txt", delay=0, interval=0.1, grace_period=0)
    launch_on_first_offer(rec, lambda o: [corral.task(
        "fetching", "cat greeting.txt && sleep 60", corral.resources(cpus=0.1, mem=16), offer=o,
        task_id="fetching", uris=[corral.uri(str(tmp_path / "greeting.txt"))], health_check=check)])
    with corral.SchedulerDriver(rec, "uris", cluster.master):
        healthy = rec.wait(lambda: next((u for u in rec.updates if u.task_id.value == "fetching"
                                         and u.HasField("healthy")), None))
        assert healthy.healthy and healthy.state == v1.TASK_RUNNING
        assert healthy.reason == v1.TaskStatus.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
