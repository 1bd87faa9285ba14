"""The SDK in separate processes: Ctrl-C, interpreter exit, and the examples
against corral-master and corral-agent processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from corral import v1
from corral.v1 import internal_pb2
from corral.testing import master_state, wait_for
from conftest import EXAMPLES, HERE, ProcessCluster, run_python


def test_ctrl_c_stops_the_driver_and_keeps_the_framework(process_cluster: ProcessCluster) -> None:
    proc = subprocess.Popen([sys.executable, str(HERE / "interrupt_scheduler.py"), process_cluster.master],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the task runs (the timeout below bounds the test)
        assert line.startswith("RUNNING "), line
        framework_id = line.split()[1]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt" in err
    assert "Traceback" in err and "Fatal" not in err and "terminate" not in err
    # Stopped with failover: the framework waits for its scheduler, its task runs on.
    def framework_waiting() -> internal_pb2.ClusterState | None:
        s = master_state(process_cluster.master)
        waiting = any(f.framework_info.id.value == framework_id and not f.connected for f in s.frameworks)
        return s if waiting else None
    state = wait_for(framework_waiting)
    assert [t.state for t in state.tasks if t.task_id.value == "long"] == [v1.TASK_RUNNING]


def test_the_interpreter_exits_cleanly_with_a_running_driver() -> None:
    result = run_python([str(HERE / "exit_with_running_driver.py")], timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "EXITING" in result.stdout
    assert "Fatal" not in result.stderr and "terminate called" not in result.stderr


def test_monte_carlo_pi_example_on_separate_processes(process_cluster: ProcessCluster) -> None:
    result = run_python([str(EXAMPLES / "pi.py"), "--master", process_cluster.master, "--tasks", "6",
                         "--samples", "50000"], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    estimate = float(result.stdout.split("pi ~= ")[1].split()[0])
    assert 3.0 < estimate < 3.3
    assert "from 300000 samples in 6 tasks" in result.stdout


def test_hello_example_reports_the_command_s_outcome(process_cluster: ProcessCluster) -> None:
    ok = run_python([str(EXAMPLES / "hello.py"), "--master", process_cluster.master, "echo hi"])
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "TASK_FINISHED" in ok.stdout
    bad = run_python([str(EXAMPLES / "hello.py"), "--master", process_cluster.master, "exit 3"])
    assert bad.returncode == 1
    assert "TASK_FAILED" in bad.stdout


def test_the_package_s_command_line_tools_run(process_cluster: ProcessCluster) -> None:
    bin_dir = Path(sys.executable).parent
    out = subprocess.run([str(bin_dir / "corral"), "agents", f"--master={process_cluster.master}"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert len(master_state(process_cluster.master).agents) == 1
    assert master_state(process_cluster.master).agents[0].agent_info.id.value in out.stdout
