"""Corral's messages (Mesos v1 names and numbers), generated from core/proto.

The common messages and the TaskState values are re-exported here:
``corral.v1.TaskInfo``, ``corral.v1.TASK_RUNNING``. Scheduler and executor
calls and events live in :mod:`corral.v1.scheduler_pb2` and
:mod:`corral.v1.executor_pb2`; maintenance schedules in
:mod:`corral.v1.maintenance_pb2`.
"""

from corral.v1.allocator_pb2 import InverseOfferStatus
from corral.v1.corral_pb2 import (
    TASK_DROPPED,
    TASK_ERROR,
    TASK_FAILED,
    TASK_FINISHED,
    TASK_GONE,
    TASK_GONE_BY_OPERATOR,
    TASK_KILLED,
    TASK_KILLING,
    TASK_LOST,
    TASK_RUNNING,
    TASK_STAGING,
    TASK_STARTING,
    TASK_UNKNOWN,
    TASK_UNREACHABLE,
    AgentID,
    AgentInfo,
    CommandInfo,
    DurationInfo,
    Environment,
    ExecutorID,
    ExecutorInfo,
    Filters,
    FrameworkID,
    FrameworkInfo,
    HealthCheck,
    InverseOffer,
    KillPolicy,
    Label,
    Labels,
    MachineID,
    MasterInfo,
    Offer,
    OfferID,
    Resource,
    TaskGroupInfo,
    TaskID,
    TaskInfo,
    TaskState,
    TaskStatus,
    Value,
)

__all__ = [
    "TASK_DROPPED", "TASK_ERROR", "TASK_FAILED", "TASK_FINISHED", "TASK_GONE", "TASK_GONE_BY_OPERATOR",
    "TASK_KILLED", "TASK_KILLING", "TASK_LOST", "TASK_RUNNING", "TASK_STAGING", "TASK_STARTING",
    "TASK_UNKNOWN", "TASK_UNREACHABLE", "AgentID", "AgentInfo", "CommandInfo", "DurationInfo", "Environment",
    "ExecutorID", "ExecutorInfo", "Filters", "FrameworkID", "FrameworkInfo", "HealthCheck", "InverseOffer", "InverseOfferStatus", "KillPolicy", "Label", "Labels", "MachineID",
    "MasterInfo", "Offer", "OfferID", "Resource", "TaskGroupInfo", "TaskID", "TaskInfo", "TaskState",
    "TaskStatus", "Value",
]
