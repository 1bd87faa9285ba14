// Status updates, from whoever produces one (a task's exit, an executor, a
// health check, the agent itself) to the master and back: the
// StatusUpdateManager (status_updates.h), and the agent's use of it.
#include "corral/agent/status_updates.h"

#include "agent_impl.h"

namespace corral {

StatusUpdateManager::StatusUpdateManager(Hooks hooks, Clock* clock, double retry_min, double retry_max)
    : hooks_(std::move(hooks)), clock_(clock), retry_min_(retry_min), retry_max_(retry_max) {}

void StatusUpdateManager::Produce(const std::string& framework_id, v1::TaskStatus status) {
  Key key{framework_id, status.task_id().value()};
  Stream& stream = streams_[key];
  uint64_t change = ++last_change_;
  // The update in flight (the head) is never replaced.
  if (stream.pending.size() >= 2 && stream.pending.back().state() == status.state() &&
      !IsTerminalState(status.state())) {
    stream.pending.back() = std::move(status);
    stream.changes.back() = change;
  } else {
    stream.pending.push_back(std::move(status));
    stream.changes.push_back(change);
  }
  Checkpoint(key, change);
}

void StatusUpdateManager::Checkpoint(const Key& key, uint64_t change) {
  // Called at once when there is nothing to write: the stream is there.
  hooks_.checkpoint(key, [this, key, change] {
    auto it = streams_.find(key);
    if (it == streams_.end()) return;  // acknowledged and gone meanwhile
    it->second.durable = std::max(it->second.durable, change);
    MaybeForward(key, it->second);
  });
}

bool StatusUpdateManager::HeadDurable(const Stream& stream) const {
  return !stream.pending.empty() && stream.changes.front() <= stream.durable;
}

void StatusUpdateManager::MaybeForward(const Key& key, Stream& stream) {
  if (!stream.sent && HeadDurable(stream)) ForwardHead(key, stream);
}

void StatusUpdateManager::ForwardHead(const Key& key, Stream& stream) {
  if (stream.pending.empty()) return;
  hooks_.forward(key.first, stream.pending.front(), stream.pending.back().state());
  stream.sent = true;
  if (stream.backoff == 0) stream.backoff = retry_min_;
  stream.next_retry = clock_->SteadySeconds() + stream.backoff;
}

StatusUpdateManager::Acked StatusUpdateManager::Acknowledge(const Key& key, const std::string& uuid) {
  auto it = streams_.find(key);
  if (it == streams_.end() || !HeadDurable(it->second)) return Acked::kIgnored;
  Stream& stream = it->second;
  if (stream.pending.front().uuid() != uuid) return Acked::kIgnored;  // stale or duplicate
  bool terminal = IsTerminalState(stream.pending.front().state());
  stream.pending.pop_front();
  stream.changes.pop_front();
  stream.sent = false;
  stream.backoff = 0;
  if (!stream.pending.empty()) {
    // The next update went down with its own change; this one only drops
    // the acknowledged head from the file.
    Checkpoint(key, ++last_change_);
    MaybeForward(key, stream);
    return Acked::kNext;
  }
  streams_.erase(it);
  if (terminal) return Acked::kFinished;  // the caller forgets the task and its checkpoint
  Checkpoint(key, ++last_change_);
  return Acked::kDrained;
}

void StatusUpdateManager::RetryDue() {
  double now = clock_->SteadySeconds();
  for (auto& [key, stream] : streams_) {
    if (!stream.sent || stream.next_retry > now) continue;
    stream.backoff = std::min(stream.backoff * 2, retry_max_);
    ForwardHead(key, stream);
  }
}

void StatusUpdateManager::ForwardAll() {
  for (auto& [key, stream] : streams_) {
    if (HeadDurable(stream)) ForwardHead(key, stream);
  }
}

void StatusUpdateManager::ForwardFramework(const std::string& framework_id) {
  for (auto& [key, stream] : streams_) {
    if (key.first != framework_id || !HeadDurable(stream)) continue;
    stream.backoff = 0;
    ForwardHead(key, stream);
  }
}

void StatusUpdateManager::Restore(const Key& key, std::vector<v1::TaskStatus> pending) {
  if (pending.empty()) return;
  Stream& stream = streams_[key];
  stream.pending.assign(std::make_move_iterator(pending.begin()), std::make_move_iterator(pending.end()));
  stream.changes.assign(stream.pending.size(), 0);  // read from disk: durable already
}

void StatusUpdateManager::ForgetFramework(const std::string& framework_id) {
  for (auto it = streams_.begin(); it != streams_.end();) {
    it = it->first.first == framework_id ? streams_.erase(it) : std::next(it);
  }
}

const std::deque<v1::TaskStatus>& StatusUpdateManager::Pending(const Key& key) const {
  static const std::deque<v1::TaskStatus> kNone;
  auto it = streams_.find(key);
  return it == streams_.end() ? kNone : it->second.pending;
}

bool StatusUpdateManager::Holds(const Key& key, const std::string& uuid) const {
  for (const v1::TaskStatus& st : Pending(key)) {
    if (st.uuid() == uuid) return true;
  }
  return false;
}

size_t StatusUpdateManager::size() const {
  size_t n = 0;
  for (const auto& [key, stream] : streams_) n += stream.pending.size();
  return n;
}

// --- the agent's side ------------------------------------------------------------

StatusUpdateManager::Hooks Agent::UpdateHooks() {
  StatusUpdateManager::Hooks hooks;
  hooks.forward = [this](const std::string& framework_id, const v1::TaskStatus& head, v1::TaskState latest) {
    AgentMessage m;
    auto* su = m.mutable_status_update();
    su->mutable_framework_id()->set_value(framework_id);
    *su->mutable_status() = head;
    su->set_latest_state(latest);
    SendToMaster(m);
  };
  // A failed write is logged (CheckpointTask) and the update still goes:
  // the framework hears of it either way.
  hooks.checkpoint = [this](const Key& key, std::function<void()> durable) {
    if (!CheckpointTask(key, OnLoop([durable](const absl::Status&) { durable(); }))) durable();
  };
  return hooks;
}

// As a Mesos agent does, a TASK_RUNNING update (the agent's or an
// executor's) says where the task runs: its container, the pid at its root,
// and the agent's address, which is the container's (host networking).
void Agent::DescribeContainer(const TaskRecord& task, v1::ContainerStatus* out) const {
  std::string container_id = task.container_id;
  pid_t pid = task.pid;
  if (!task.executor_id.empty()) {
    auto ex = executors_.find({task.framework_id, task.executor_id});
    if (ex != executors_.end()) {
      container_id = ex->second.container_id;
      pid = ex->second.pid;
    }
  }
  if (!container_id.empty()) out->mutable_container_id()->set_value(container_id);
  if (pid > 0) out->set_executor_pid(static_cast<uint32_t>(pid));
  auto* ip = out->add_network_infos()->add_ip_addresses();
  ip->set_protocol(options_.ip.find(':') == std::string::npos ? v1::NetworkInfo::IPv4 : v1::NetworkInfo::IPv6);
  ip->set_ip_address(options_.ip);
}

void Agent::ProduceUpdate(const std::string& framework_id, v1::TaskStatus status) {
  Key key{framework_id, status.task_id().value()};
  auto t = tasks_.find(key);
  if (t != tasks_.end()) {
    if (status.state() == v1::TASK_RUNNING && !status.has_container_status()) {
      DescribeContainer(t->second, status.mutable_container_status());
    }
    t->second.state = status.state();
    t->second.latest = status;
    TrimForKeeping(&t->second.latest);
    if (IsTerminalState(status.state()) && !t->second.terminal) {
      t->second.terminal = true;
      CountTerminal(status.state());
    }
  }
  ++valid_status_updates_;
  updates_.Produce(framework_id, std::move(status));
}

void Agent::OnAcknowledgement(const v1::internal::StatusUpdateAcknowledgement& ack) {
  Key key{ack.framework_id().value(), ack.task_id().value()};
  if (updates_.Acknowledge(key, ack.uuid()) == StatusUpdateManager::Acked::kFinished) CleanupTask(key);
}

void Agent::RetryUpdates() {
  if (stopping_) return;
  if (registered_) updates_.RetryDue();
  loop_->PostAfter(Seconds(0.5), [this] { RetryUpdates(); });
}

}  // namespace corral
