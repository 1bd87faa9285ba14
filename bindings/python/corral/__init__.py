"""Corral's Python SDK: write frameworks (schedulers) and executors.

    import corral
    from corral import v1

    class Hello(corral.Scheduler):
        def offers(self, driver, offers):
            for offer in offers:
                res = corral.ResourcePool(offer).take(cpus=0.1, mem=32)
                driver.launch(offer, [corral.task("hello", "echo hello", res, offer=offer)])

    corral.SchedulerDriver(Hello(), "hello", "127.0.0.1:5050").run()

Messages are the protobuf classes in :mod:`corral.v1` (Mesos v1 names).
See docs/sdk-python.md for the whole guide.
"""

from corral.errors import (
    CorralError,
    InvalidCallError,
    MasterError,
    NotFoundError,
    PreconditionError,
    PermissionDeniedError,
    UnavailableError,
    UnsupportedCallError,
)
from corral import aio
from corral.executor import Executor, ExecutorDriver
from corral.helpers import (
    TERMINAL_STATES,
    ResourcePool,
    command,
    executor,
    framework,
    health_check,
    is_terminal,
    resources,
    scalars,
    state_name,
    task,
    uri,
)
from corral.scheduler import DriverStatus, Scheduler, SchedulerDriver, default_master

__version__ = "0.1.0"

__all__ = [
    "aio",
    "CorralError",
    "DriverStatus",
    "Executor",
    "ExecutorDriver",
    "InvalidCallError",
    "MasterError",
    "NotFoundError",
    "PreconditionError",
    "PermissionDeniedError",
    "ResourcePool",
    "Scheduler",
    "SchedulerDriver",
    "TERMINAL_STATES",
    "UnavailableError",
    "UnsupportedCallError",
    "command",
    "default_master",
    "executor",
    "framework",
    "health_check",
    "is_terminal",
    "resources",
    "scalars",
    "state_name",
    "task",
    "uri",
]
