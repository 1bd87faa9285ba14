"""Python SDK vs C++ SDK: events delivered to a scheduler, and driver call cost.

Runs the workloads of bench/sdk_events_bench.cc from Python, on the same
in-process LocalCluster, then (with --cpp) the C++ benchmark binary, and
prints medians and the Python/C++ ratios:

  updates/s  one RECONCILE of 10,000 unknown tasks -> 10,000 UPDATE events
  offers/s   10 agents, 1 ms allocation interval, every offer declined at once
  call (us)  SUPPRESS calls one after another

    build/venv/bin/python bench/python_sdk_bench.py --cpp build/bin/sdk_events_bench
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import threading
import time
from collections.abc import Callable

import corral
from corral import v1
from corral.testing import LocalCluster

UPDATES = 10_000
OFFERS = 2_000
CALLS = 2_000


class Counting(corral.Scheduler):
    """Counts events; wakes the waiting thread only when a target is reached,
    so that the measurement is of delivery, not of thread wake-ups."""

    def __init__(self, refuse_seconds: float) -> None:
        self.refuse_seconds = refuse_seconds
        self.subscribed_ = threading.Event()
        self.updates = 0
        self.offers_ = 0
        self.target = 0
        self.reached = threading.Event()

    def expect(self, count: int) -> None:
        self.target = count
        self.reached.clear()

    def subscribed(self, driver: corral.SchedulerDriver, framework_id: str, master: v1.MasterInfo) -> None:
        self.subscribed_.set()

    def offers(self, driver: corral.SchedulerDriver, offers: list[v1.Offer]) -> None:
        driver.decline(offers, refuse_seconds=self.refuse_seconds)
        self.offers_ += len(offers)
        if self.offers_ >= self.target:
            self.reached.set()

    def update(self, driver: corral.SchedulerDriver, status: v1.TaskStatus) -> None:
        self.updates += 1
        if self.updates >= self.target:
            self.reached.set()

    def wait(self, done: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not done():  # a wake-up meant for an earlier target is possible; check
            if not self.reached.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError("benchmark events did not arrive")
            self.reached.clear()


def subscribe(cluster: LocalCluster, name: str, refuse: float) -> tuple[Counting, corral.SchedulerDriver]:
    s = Counting(refuse)
    d = corral.SchedulerDriver(s, name, cluster.master)
    d.start()
    if not s.subscribed_.wait(60):
        raise TimeoutError("not subscribed")
    return s, d


def bench_updates(reps: int) -> list[float]:
    out = []
    with LocalCluster(agents=1, cgroups=False) as cluster:
        s, d = subscribe(cluster, "bench-updates", 3600)
        tasks = [f"unknown-{i}" for i in range(UPDATES)]
        for _ in range(reps):
            target = s.updates + UPDATES
            s.expect(target)
            start = time.perf_counter()
            d.reconcile(tasks)
            s.wait(lambda: s.updates >= target)
            out.append(UPDATES / (time.perf_counter() - start))
        d.stop()
    return out


def bench_offers(reps: int) -> list[float]:
    out = []
    with LocalCluster(agents=10, cgroups=False, allocation_interval=0.001) as cluster:
        s, d = subscribe(cluster, "bench-offers", 0)
        for _ in range(reps):
            target = s.offers_ + OFFERS
            s.expect(target)
            start = time.perf_counter()
            s.wait(lambda: s.offers_ >= target)
            out.append(OFFERS / (time.perf_counter() - start))
        d.stop()
    return out


def bench_calls(reps: int) -> list[float]:
    out = []
    with LocalCluster(agents=1, cgroups=False) as cluster:
        s, d = subscribe(cluster, "bench-calls", 3600)
        for _ in range(reps):
            start = time.perf_counter()
            for _ in range(CALLS):
                d.suppress()
            out.append((time.perf_counter() - start) * 1e6 / CALLS)
        d.stop()
    return out


def cpp_medians(binary: str, reps: int) -> dict[str, float]:
    """Median of each workload's counter from the C++ benchmark."""
    result = subprocess.run([binary, f"--benchmark_repetitions={reps}", "--benchmark_format=json"],
                            capture_output=True, text=True, check=True)
    runs = json.loads(result.stdout)["benchmarks"]
    values: dict[str, list[float]] = {"updates": [], "offers": [], "calls": []}
    for r in runs:
        if r.get("run_type") != "iteration":
            continue
        if r["name"].startswith("BM_UpdateEvents"):
            values["updates"].append(r["events_per_s"])
        elif r["name"].startswith("BM_OfferEvents"):
            values["offers"].append(r["offers_per_s"])
        elif r["name"].startswith("BM_Calls"):
            values["calls"].append(r["us_per_call"])
    return {k: statistics.median(v) for k, v in values.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--cpp", help="path of build/bin/sdk_events_bench, to compare with C++")
    args = parser.parse_args()
    py = {
        "updates": statistics.median(bench_updates(args.reps)),
        "offers": statistics.median(bench_offers(args.reps)),
        "calls": statistics.median(bench_calls(args.reps)),
    }
    cpp = cpp_medians(args.cpp, args.reps) if args.cpp else {}
    print(f"{'workload':<12}{'Python':>12}{'C++':>12}{'Python/C++':>12}")
    for key, label, higher_is_better in (("updates", "updates/s", True), ("offers", "offers/s", True),
                                         ("calls", "call (us)", False)):
        c = cpp.get(key)
        ratio = "" if c is None else f"{(py[key] / c if higher_is_better else c / py[key]) * 100:.0f}%"
        print(f"{label:<12}{py[key]:>12.0f}{'' if c is None else f'{c:.0f}':>12}{ratio:>12}")
    print("(Python/C++ is throughput relative to C++: for calls, C++ time / Python time)")


if __name__ == "__main__":
    main()
