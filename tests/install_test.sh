#!/usr/bin/env bash
# Installs Corral into a temporary prefix, builds the out-of-tree example
# framework against find_package(Corral), and runs it against `corral local`
# started from the installed binaries.
set -euo pipefail
build_dir="$1"
source_dir="$2"
work="$(mktemp -d)"
local_pid=""
cleanup() {
  if [ -n "$local_pid" ]; then kill -TERM "$local_pid" 2>/dev/null || true; wait "$local_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
test -x "$work/prefix/bin/corral-master"
# corral-marathon loads from the prefix and names a bad flag in one line.
if "$work/prefix/bin/corral-marathon" --http_port=99999 > "$work/marathon.out" 2>&1; then exit 1; fi
grep -q "^corral-marathon: --http_port must be between 0 and 65535$" "$work/marathon.out"
test -f "$work/prefix/include/corral/scheduler.h"
cmake -S "$source_dir/examples/cpp" -B "$work/example" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/example" > "$work/build.log"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/prefix/bin/corral" local --port="$port" --agents=1 --agent_resources='cpus:2;mem:1024;disk:1024' > "$work/local.log" 2>&1 &
local_pid=$!
# `corral agents` answers once the master is up with its agent registered.
for _ in $(seq 1 200); do
  if "$work/prefix/bin/corral" agents --master="127.0.0.1:$port" 2>/dev/null | grep -q active; then break; fi
  sleep 0.05  # polling the master, at most 10 s
done
timeout 60 "$work/example/hello-framework" "127.0.0.1:$port" 3 "echo hello" | tee "$work/run.log"
test "$(grep -c 'is TASK_FINISHED' "$work/run.log")" -eq 3
echo "install test: out-of-tree framework built against the installed package ran 3 tasks"
