#!/usr/bin/env bash
# A local high-availability cluster for trying failover out: a standalone
# ZooKeeper server (Debian's zookeeper package), N masters elected through
# it, and one agent, all on loopback, as separate processes.
#
#   scripts/local-ha.sh [--masters=N] [--zk_port=P] [--first_port=P]
#
# Needs a build (scripts/dev.sh build). Stops everything on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(cd "${CORRAL_BUILD_DIR:-build}" && pwd)/bin"
MASTERS=3
ZK_PORT=2181
FIRST_PORT=5050
for arg in "$@"; do
  case "$arg" in
    --masters=*) MASTERS="${arg#*=}" ;;
    --zk_port=*) ZK_PORT="${arg#*=}" ;;
    --first_port=*) FIRST_PORT="${arg#*=}" ;;
    *) echo "unknown argument '$arg' (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ "$MASTERS" =~ ^[1-9][0-9]*$ ]] || { echo "--masters must be a positive number" >&2; exit 2; }
[ -f /usr/share/java/zookeeper.jar ] || { echo "ZooKeeper is missing: apt-get install zookeeper" >&2; exit 1; }
[ -x "$BIN/corral-master" ] || { echo "no build in $BIN: run scripts/dev.sh build" >&2; exit 1; }

DIR="$(mktemp -d -t corral-ha-XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  echo "logs in $DIR"
}
trap cleanup EXIT INT TERM

mkdir -p "$DIR/zk"
cat > "$DIR/zoo.cfg" << CFG
tickTime=500
dataDir=$DIR/zk
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok
CFG
java -cp /usr/share/java/zookeeper.jar org.apache.zookeeper.server.quorum.QuorumPeerMain "$DIR/zoo.cfg" \
  > "$DIR/zookeeper.log" 2>&1 &
PIDS+=($!)
ruok() { (exec 3<> "/dev/tcp/127.0.0.1/$ZK_PORT" && echo ruok >&3 && head -c 4 <&3) 2> /dev/null; }
for _ in $(seq 300); do
  [ "$(ruok)" = imok ] && break
  sleep 0.1  # waiting for ZooKeeper to listen, at most 30 s
done

URL="zk://127.0.0.1:$ZK_PORT/corral"
for i in $(seq 0 $((MASTERS - 1))); do
  port=$((FIRST_PORT + i))
  "$BIN/corral-master" --port="$port" --work_dir="$DIR/master-$port" --zk="$URL" --zk_session_timeout=5secs \
    --allocation_interval=200ms > "$DIR/master-$port.log" 2>&1 &
  PIDS+=($!)
  echo "master on 127.0.0.1:$port (pid $!, log $DIR/master-$port.log)"
done
"$BIN/corral-agent" --master="$URL" --port=0 --work_dir="$DIR/agent" --cgroups=false \
  > "$DIR/agent.log" 2>&1 &
PIDS+=($!)
cat << MSG

ZooKeeper at 127.0.0.1:$ZK_PORT; masters elected under $URL.
Try:
  $BIN/corral --master=$URL agents
  $BIN/corral --master=$URL run -- sleep 600 &
  curl -si http://127.0.0.1:$FIRST_PORT/master/redirect     # 307 to the leader (from a standby)
  kill -9 <the leader's pid>                                 # another master leads within ~5 s
Ctrl-C stops everything.
MSG
wait
