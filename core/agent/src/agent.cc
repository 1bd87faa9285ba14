#include "corral/agent/agent.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "corral/agent/checkpoint.h"
#include "corral/agent/disk_quota.h"
#include "corral/agent/sandbox_gc.h"
#include "corral/common/command.h"
#include "corral/common/frameworks.h"
#include "corral/common/ids.h"
#include "corral/common/logging.h"
#include "corral/common/task_state.h"
#include "corral/common/work_dir_lock.h"
#include "corral/v1/internal.grpc.pb.h"

namespace corral {

using v1::internal::AgentMessage;
using v1::internal::MasterMessage;
namespace fs = std::filesystem;

namespace {

absl::Duration Seconds(double s) { return absl::Seconds(s); }


Resources DetectResources(const std::string& work_dir) {
  ResourceItem cpus;
  cpus.name = "cpus";
  cpus.kind = ResourceKind::kScalar;
  cpus.scalar = ToMilli(std::max(1u, std::thread::hardware_concurrency()));
  Resources r;
  r.Add(cpus);
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb >> unit) {
    if (key == "MemTotal:") break;
  }
  uint64_t mem_mb = kb / 1024;
  mem_mb -= std::min<uint64_t>(1024, mem_mb / 2);
  ResourceItem mem;
  mem.name = "mem";
  mem.kind = ResourceKind::kScalar;
  mem.scalar = ToMilli(static_cast<double>(mem_mb));
  r.Add(mem);
  struct statvfs st;
  if (::statvfs(work_dir.c_str(), &st) == 0) {
    // The file system's size, not its free space: what is detected must not
    // change between runs, or a restarted agent would not recover.
    uint64_t disk_mb = static_cast<uint64_t>(st.f_blocks) * st.f_frsize / (1024 * 1024);
    disk_mb -= std::min<uint64_t>(5120, disk_mb / 2);
    ResourceItem disk;
  disk.name = "disk";
  disk.kind = ResourceKind::kScalar;
    disk.scalar = ToMilli(static_cast<double>(disk_mb));
    r.Add(disk);
  }
  ResourceItem ports;
  ports.name = "ports";
  ports.kind = ResourceKind::kRanges;
  ports.ranges.push_back({31000, 32000});
  r.Add(ports);
  return r;
}

// "corral/agent-<16 hex digits of FNV-1a of the work dir>": one agent's own.
std::string DefaultCgroupsRoot(const std::string& work_dir) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : work_dir) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return absl::StrCat("corral/agent-", absl::Hex(h, absl::kZeroPad16));
}

}  // namespace

// The agent's end of its stream to the master (gRPC callback API: no thread
// of its own). Messages it reads are handed to the agent's loop; the loop
// writes with Send().
//
// Writes start on the agent's thread, not in a gRPC reaction, so a hold
// keeps gRPC from finishing the call (OnDone) while a write might still
// start: it is released once the read side has ended and no write is in
// flight, after which Send() refuses.
class MasterLink : public grpc::ClientBidiReactor<AgentMessage, MasterMessage> {
 public:
  void Init(std::function<void(const MasterMessage&)> on_message,
            std::function<void(const std::string&)> on_done) {
    on_message_ = std::move(on_message);
    on_done_ = std::move(on_done);
  }

  void Start(std::shared_ptr<MasterLink> self, v1::internal::AgentService::Stub* stub, const AgentMessage& first) {
    self_ = std::move(self);
    stub->async()->Connect(&ctx_, this);
    AddHold();
    writing_ = true;
    out_ = first;
    StartWrite(&out_);
    StartRead(&in_);
    StartCall();
  }
  bool Send(const AgentMessage& msg) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return false;
    queue_.push_back(msg);
    if (!writing_) NextLocked();
    return true;
  }
  void Close() { ctx_.TryCancel(); }

 private:
  void NextLocked() {
    if (queue_.empty()) return;
    writing_ = true;
    out_ = std::move(queue_.front());
    queue_.pop_front();
    grpc::WriteOptions options;
    if (!queue_.empty()) options.set_buffer_hint();
    StartWrite(&out_, options);
  }
  void OnWriteDone(bool ok) override {
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok) {
        queue_.clear();
        closing_ = true;  // the stream is broken: no more writes
      }
      if (closing_) {
        release = !hold_released_;
        hold_released_ = true;
      } else {
        NextLocked();
      }
    }
    if (release) RemoveHold();
  }
  void OnReadDone(bool ok) override {
    if (ok) {
      on_message_(in_);
      StartRead(&in_);
      return;
    }
    // The read side is over (the master ended the stream, or it broke).
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      queue_.clear();
      if (!writing_ && !hold_released_) {
        hold_released_ = true;
        release = true;
      }
    }
    if (release) RemoveHold();
  }
  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<MasterLink> self;
    {
      std::lock_guard<std::mutex> lock(mu_);
      self = std::move(self_);
    }
    on_done_(status.ok() ? "the master closed the connection" : status.error_message());
  }

  std::function<void(const MasterMessage&)> on_message_;
  std::function<void(const std::string&)> on_done_;
  grpc::ClientContext ctx_;
  std::mutex mu_;
  std::deque<AgentMessage> queue_;
  AgentMessage out_;
  MasterMessage in_;
  bool writing_ = false;
  bool closing_ = false;        // no more writes will start
  bool hold_released_ = false;
  std::shared_ptr<MasterLink> self_;
};

namespace {
// One channel per master address, shared by every agent in the process.
v1::internal::AgentService::Stub* StubFor(const std::string& master) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<v1::internal::AgentService::Stub>> stubs;
  std::lock_guard<std::mutex> lock(mu);
  auto& stub = stubs[master];
  if (!stub) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    stub = v1::internal::AgentService::NewStub(
        grpc::CreateCustomChannel(master, grpc::InsecureChannelCredentials(), args));
  }
  return stub.get();
}
}  // namespace

Agent::Agent(AgentOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock()),
      loop_(std::make_shared<EventLoop>("corral-agent", clock_)) {}

Agent::~Agent() { Stop(); }

absl::Status Agent::Start(int port) {
  options_.port = port;
  if (options_.master.empty()) return absl::InvalidArgumentError("--master is required (host:port of the master)");
  // Sandbox paths are shown to clients (/state) and checked against what
  // they ask for (/files): they must be absolute and normal.
  if (options_.work_dir.empty()) return absl::InvalidArgumentError("--work_dir must not be empty");
  options_.work_dir = fs::absolute(options_.work_dir).lexically_normal().string();
  if (options_.work_dir.size() > 1 && options_.work_dir.back() == '/') options_.work_dir.pop_back();
  std::error_code ec;
  fs::create_directories(options_.work_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("cannot create --work_dir ", options_.work_dir, ": ", ec.message()));
  if (options_.cgroups_root.empty()) options_.cgroups_root = DefaultCgroupsRoot(options_.work_dir);
  auto lock = WorkDirLock::Acquire(options_.work_dir, "corral-agent");
  if (!lock.ok()) return lock.status();
  work_dir_lock_ = std::move(*lock);
  Resources detected = DetectResources(options_.work_dir);
  if (!options_.resources.empty()) {
    auto given = Resources::Parse(options_.resources);
    if (!given.ok()) return absl::InvalidArgumentError(absl::StrCat("--resources: ", given.status().message()));
    Resources kept;
    for (const ResourceItem& item : detected.items()) {
      bool overridden = false;
      for (const ResourceItem& g : given->items()) if (g.name == item.name) overridden = true;
      if (!overridden) kept.Add(item);
    }
    detected = kept + *given;
  }
  total_ = detected;
  start_time_ = clock_->NowSeconds();
  if (options_.flags.empty()) {
    auto& f = options_.flags;
    f["master"] = options_.master;
    f["ip"] = options_.ip;
    f["port"] = absl::StrCat(options_.port);
    f["hostname"] = options_.hostname;
    f["work_dir"] = options_.work_dir;
    f["resources"] = options_.resources;
    f["attributes"] = options_.attributes;
    f["cgroups"] = options_.cgroups ? "true" : "false";
    f["cgroups_root"] = options_.cgroups_root;
    f["cgroups_pids_max"] = absl::StrCat(options_.cgroups_pids_max);
    f["executor_registration_timeout"] = absl::StrCat(options_.executor_registration_timeout, "secs");
    f["executor_shutdown_grace_period"] = absl::StrCat(options_.executor_shutdown_grace, "secs");
    f["gc_delay"] = absl::StrCat(options_.gc_delay, "secs");
    f["container_disk_watch_interval"] = absl::StrCat(options_.container_disk_watch_interval, "secs");
    f["enforce_container_disk_quota"] = options_.enforce_container_disk_quota ? "true" : "false";
    f["recover"] = options_.recover;
  }
  info_.set_hostname(options_.hostname);
  info_.set_port(options_.port);
  total_.ToProto(info_.mutable_resources());
  if (!options_.attributes.empty()) {
    for (absl::string_view part : absl::StrSplit(options_.attributes, ';', absl::SkipWhitespace())) {
      std::vector<std::string> kv = absl::StrSplit(part, absl::MaxSplits(':', 1));
      if (kv.size() != 2 || kv[0].empty()) {
        return absl::InvalidArgumentError(absl::StrCat("--attributes: '", part, "' is not name:value"));
      }
      v1::Attribute* a = info_.add_attributes();
      a->set_name(kv[0]);
      double d;
      if (absl::SimpleAtod(kv[1], &d)) {
        a->set_type(v1::Value::SCALAR);
        a->mutable_scalar()->set_value(d);
      } else {
        a->set_type(v1::Value::TEXT);
        a->mutable_text()->set_value(kv[1]);
      }
    }
  }
  if (options_.cgroups) {
    cgroups_ = Cgroups::Detect(options_.cgroups_root, options_.cgroups_pids_max > 0);
    cgroup_cleaner_ = std::make_unique<EventLoop>("corral-cg-clean");
    if (cgroups_->enabled()) {
      // Say what is enforced, and nothing more.
      std::vector<std::string> limits;
      for (const std::string& c : cgroups_->controllers()) {
        if (c == "pids") limits.push_back(absl::StrCat("pids (", options_.cgroups_pids_max, " per container)"));
        else limits.push_back(c);
      }
      cgroups_status_ = absl::StrCat("cgroups v", cgroups_->version(), " under ", options_.cgroups_root, ": ",
                                     absl::StrJoin(limits, ", "), " limits enforced");
      if (options_.cgroups_pids_max == 0) absl::StrAppend(&cgroups_status_, "; no pids limit (--cgroups_pids_max=0)");
      else if (!absl::c_linear_search(cgroups_->controllers(), "pids")) {
        absl::StrAppend(&cgroups_status_, "; no pids limit (this machine has no usable pids controller)");
      }
    } else {
      cgroups_status_ = absl::StrCat("cgroups unavailable (", cgroups_->why(), "): tasks run without resource limits");
    }
  } else {
    cgroups_status_ = "cgroups disabled by flag: tasks run without resource limits";
  }
  CORRAL_LOG(INFO) << "Agent resources " << total_.ToString() << "; " << cgroups_status_;
  sandbox_remover_ = std::make_unique<EventLoop>("corral-sandbox-gc");
  if (options_.enforce_container_disk_quota) disk_watcher_ = std::make_unique<EventLoop>("corral-disk-watch");
  double recovery_start = clock_->SteadySeconds();
  absl::Status recovered = loop_->Call([this] { return Recover(); });
  recovery_seconds_ = clock_->SteadySeconds() - recovery_start;
  if (absl::Status s = recovered; !s.ok()) {
    // Refusing to start touches nothing: whatever the last run left keeps
    // running, for a later start (or --recover=cleanup) to deal with.
    stopping_ = true;
    abandoned_ = true;
    return s;
  }
  loop_->Post([this] {
    Connect();
    RetryUpdates();
    loop_->PostAfter(Seconds(options_.disk_watch_interval), [this] { CollectSandboxes(); });
    if (disk_watcher_) loop_->PostAfter(Seconds(options_.container_disk_watch_interval), [this] { WatchDisk(); });
  });
  return absl::OkStatus();
}

void Agent::Abandon() {
  if (loop_->InLoopThread()) return;
  loop_->Call([this] {
    stopping_ = true;
    abandoned_ = true;
    if (link_) link_->Close();
    for (auto& [key, ex] : executors_) if (ex.sink) ex.sink->Close();
    return 0;
  });
  loop_->Stop();
  if (cgroup_cleaner_) cgroup_cleaner_->Stop();
  if (sandbox_remover_) sandbox_remover_->Stop();
  if (disk_watcher_) disk_watcher_->Stop();
  work_dir_lock_.reset();  // as a crash would drop it
}

void Agent::Stop() {
  if (loop_->InLoopThread() || abandoned_) return;
  loop_->Call([this] {
    if (stopping_) return 0;
    stopping_ = true;
    if (link_) link_->Close();
    for (auto& [key, ex] : executors_) if (ex.sink) ex.sink->Close();
    KillContainers();
    return 0;
  });
  loop_->Stop();
  if (cgroup_cleaner_) cgroup_cleaner_->Stop();  // finishes the queued removals
  if (sandbox_remover_) sandbox_remover_->Stop();
  if (disk_watcher_) disk_watcher_->Stop();
  // Remove what is left of the containers once the processes are gone.
  if (cgroups_ && cgroups_->enabled()) {
    for (auto& [key, task] : tasks_) if (!task.container_id.empty()) cgroups_->Release(task.container_id);
    for (auto& [key, ex] : executors_) if (!ex.container_id.empty()) cgroups_->Release(ex.container_id);
  }
}

size_t Agent::KillContainers() {
  size_t killed = 0;
  for (auto& [key, ex] : executors_) {
    if (ex.pid > 0 && ::kill(-ex.pid, SIGKILL) == 0) ++killed;
  }
  for (auto& [key, task] : tasks_) {
    if (task.pid > 0 && !task.terminal && ::kill(-task.pid, SIGKILL) == 0) ++killed;
  }
  return killed;
}

std::string Agent::id() { return loop_->Call([this] { return agent_id_; }); }
std::string Agent::refusal() { return loop_->Call([this] { return refusal_; }); }
bool Agent::registered() { return loop_->Call([this] { return registered_; }); }
size_t Agent::pending_updates() {
  return loop_->Call([this] {
    size_t n = 0;
    for (const auto& [key, stream] : updates_) n += stream.pending.size();
    return n;
  });
}

size_t Agent::running_tasks() {
  return loop_->Call([this] {
    size_t n = 0;
    for (auto& [k, t] : tasks_) if (!t.terminal) ++n;
    return n;
  });
}

// --- master connection ---------------------------------------------------------

void Agent::Connect() {
  if (stopping_) return;
  AgentMessage first;
  if (agent_id_.empty()) {
    auto* reg = first.mutable_register_agent();
    *reg->mutable_agent_info() = info_;
    reg->set_version(CORRAL_VERSION);
  } else {
    auto* rereg = first.mutable_reregister_agent();
    *rereg->mutable_agent_info() = info_;
    rereg->mutable_agent_info()->mutable_id()->set_value(agent_id_);
    rereg->set_version(CORRAL_VERSION);
    for (const auto& [fid, fw] : frameworks_) *rereg->add_frameworks() = fw;
    for (const auto& [key, ex] : executors_) {
      *rereg->add_executors() = ex.info;
      rereg->mutable_executors(rereg->executors_size() - 1)->mutable_framework_id()->set_value(key.first);
    }
    for (const auto& [key, t] : tasks_) {
      v1::Task* task = rereg->add_tasks();
      task->set_name(t.info.name());
      *task->mutable_task_id() = t.info.task_id();
      task->mutable_framework_id()->set_value(t.framework_id);
      task->mutable_agent_id()->set_value(agent_id_);
      if (!t.executor_id.empty()) task->mutable_executor_id()->set_value(t.executor_id);
      task->set_state(t.state);
      *task->mutable_resources() = t.info.resources();
      *task->add_statuses() = t.latest;
    }
  }
  auto link = std::make_shared<MasterLink>();
  MasterLink* raw = link.get();  // identifies this link when it ends
  // The link's callbacks can outlive this agent (a stream ends after Stop):
  // they reach it only through its loop, which drops work once stopped.
  std::weak_ptr<EventLoop> loop = loop_;
  link->Init(
      [loop, this](const MasterMessage& m) {
        if (auto l = loop.lock()) l->Post([this, m] { OnMasterMessage(m); });
      },
      [loop, this, raw](const std::string& why) {
        if (auto l = loop.lock()) l->Post([this, raw, why] { OnLinkDone(raw, why); });
      });
  link_ = link;
  link->Start(link, StubFor(options_.master), first);
}

void Agent::OnLinkDone(MasterLink* link, const std::string& why) {
  if (link_.get() != link) return;
  link_.reset();
  if (registered_) CORRAL_LOG(WARNING) << "Lost the master at " << options_.master << ": " << why;
  registered_ = false;
  if (stopping_) return;
  double jitter = 0.5 + (std::rand() % 1000) / 1000.0;
  loop_->PostAfter(Seconds(options_.registration_backoff * jitter), [this] { Connect(); });
}

void Agent::SendToMaster(const AgentMessage& msg) {
  if (link_ && registered_) link_->Send(msg);
}

void Agent::OnMasterMessage(const MasterMessage& msg) {
  if (stopping_) return;
  switch (msg.message_case()) {
    case MasterMessage::kRegistered: {
      bool first = agent_id_.empty();
      agent_id_ = msg.registered().agent_id().value();
      info_.mutable_id()->set_value(agent_id_);
      registered_ = true;
      if (first) {
        if (absl::Status s = CheckpointAgent(); !s.ok()) {
          CORRAL_LOG(ERROR) << "Cannot checkpoint this agent's identity (" << s.message()
                            << "): after a restart it will come back as a new agent";
        }
      }
      CORRAL_LOG(INFO) << "Agent " << (first ? "registered" : "reregistered") << " as " << agent_id_;
      // Resend every unacknowledged update: the master may have missed them.
      for (auto& [key, stream] : updates_) ForwardHead(key, stream);
      break;
    }
    case MasterMessage::kRefused: {
      if (msg.refused().retry()) {
        // The master's own trouble (its registry cannot be written): keep
        // everything, and register again once the link is gone.
        CORRAL_LOG(ERROR) << "The master cannot admit this agent now (" << msg.refused().message()
                          << "); everything keeps running and the agent will try again";
        if (link_) link_->Close();
        break;
      }
      CORRAL_LOG(ERROR) << "The master refused this agent: " << msg.refused().message();
      // The master no longer counts on anything here (a machine taken down
      // for maintenance, say): what runs is killed, the checkpoints that
      // would bring it back are discarded, and the agent stops connecting.
      size_t killed = KillContainers();
      if (killed > 0) CORRAL_LOG(WARNING) << "Killed " << killed << " containers";
      std::error_code ec;
      fs::remove_all(meta_dir_ + "/frameworks", ec);
      fs::remove(meta_dir_ + "/agent", ec);
      refusal_ = msg.refused().message();
      stopping_ = true;
      if (link_) link_->Close();
      if (on_refused_) on_refused_(msg.refused().message());
      break;
    }
    case MasterMessage::kPing:
      if (!paused_) {
        AgentMessage pong;
        pong.mutable_pong()->set_sequence(msg.ping().sequence());
        if (link_) link_->Send(pong);
      }
      break;
    case MasterMessage::kRunTask:
      if (!drop_launches_) RunTask(msg.run_task());
      break;
    case MasterMessage::kRunTaskGroup:
      if (!drop_launches_) RunTaskGroup(msg.run_task_group());
      break;
    case MasterMessage::kKillTask: {
      const auto& k = msg.kill_task();
      std::optional<v1::KillPolicy> policy;
      if (k.has_kill_policy()) policy = k.kill_policy();
      if (k.has_max_grace_period()) {
        // Draining: the task's own grace period (or the call's), capped.
        auto t = tasks_.find({k.framework_id().value(), k.task_id().value()});
        int64_t grace = static_cast<int64_t>(options_.default_kill_grace * 1e9);
        if (policy && policy->has_grace_period()) grace = policy->grace_period().nanoseconds();
        else if (t != tasks_.end() && t->second.info.kill_policy().has_grace_period()) {
          grace = t->second.info.kill_policy().grace_period().nanoseconds();
        }
        if (!policy) policy.emplace();
        policy->mutable_grace_period()->set_nanoseconds(std::min(grace, k.max_grace_period().nanoseconds()));
      }
      KillTask(k.framework_id().value(), k.task_id().value(), policy ? &*policy : nullptr);
      break;
    }
    case MasterMessage::kAcknowledgement: OnAcknowledgement(msg.acknowledgement()); break;
    case MasterMessage::kFrameworkMessage: {
      auto it = executors_.find({msg.framework_message().framework_id().value(),
                                 msg.framework_message().executor_id().value()});
      if (it == executors_.end() || !it->second.sink) break;
      v1::executor::Event ev;
      ev.set_type(v1::executor::Event::MESSAGE);
      ev.mutable_message()->set_data(msg.framework_message().data());
      it->second.sink->Send(ev);
      break;
    }
    case MasterMessage::kShutdownExecutor:
      ShutdownExecutor({msg.shutdown_executor().framework_id().value(), msg.shutdown_executor().executor_id().value()},
                       "the framework asked for it");
      break;
    case MasterMessage::kFrameworkResubscribed: {
      std::string fid = msg.framework_resubscribed().framework_id().value();
      for (auto& [key, stream] : updates_) {
        if (key.first != fid || stream.pending.empty()) continue;
        stream.backoff = 0;
        ForwardHead(key, stream);
      }
      break;
    }
    case MasterMessage::kShutdownFramework: {
      std::string fid = msg.shutdown_framework().framework_id().value();
      for (auto& [key, ex] : executors_) if (key.first == fid) ShutdownExecutor(key, "the framework was removed");
      for (auto& [key, task] : tasks_) {
        if (key.first == fid && task.executor_id.empty() && !task.terminal) Kill(task, nullptr);
      }
      // The framework is gone: its update streams will never be acknowledged.
      for (auto it = updates_.begin(); it != updates_.end();) {
        it = it->first.first == fid ? updates_.erase(it) : std::next(it);
      }
      frameworks_.erase(fid);
      std::error_code ec;
      fs::remove_all(FrameworkMetaDir(fid), ec);
      break;
    }
    default:
      break;
  }
}

// --- tasks --------------------------------------------------------------------

std::string Agent::SandboxFor(const std::string& framework_id, const std::string& executor_id,
                              const std::string& container_id) {
  return absl::StrCat(options_.work_dir, "/slaves/", agent_id_, "/frameworks/", framework_id, "/executors/",
                      executor_id, "/runs/", container_id);
}

std::map<std::string, std::string> Agent::BaseEnvironment(const std::string& framework_id,
                                                          const std::string& executor_id,
                                                          const std::string& sandbox,
                                                          const v1::FrameworkInfo& framework) {
  std::map<std::string, std::string> env;
  const char* path = std::getenv("PATH");
  env["PATH"] = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (const char* lang = std::getenv("LANG")) env["LANG"] = lang;
  env["HOME"] = sandbox;
  std::string endpoint = absl::StrCat(options_.ip, ":", options_.port);
  env["MESOS_AGENT_ENDPOINT"] = endpoint;
  env["CORRAL_AGENT_ENDPOINT"] = endpoint;
  env["MESOS_FRAMEWORK_ID"] = framework_id;
  env["MESOS_EXECUTOR_ID"] = executor_id;
  env["MESOS_SLAVE_ID"] = agent_id_;
  env["MESOS_AGENT_ID"] = agent_id_;
  env["MESOS_DIRECTORY"] = sandbox;
  env["MESOS_SANDBOX"] = sandbox;
  env["MESOS_CHECKPOINT"] = framework.checkpoint() ? "1" : "0";
  env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] = absl::StrCat(options_.executor_shutdown_grace, "secs");
  return env;
}

absl::StatusOr<pid_t> Agent::StartContainer(const std::string& framework_id, const std::string& executor_id,
                                            const std::string& container_id, const v1::CommandInfo& cmd,
                                            const v1::FrameworkInfo& framework, const Limits& limits,
                                            const std::map<std::string, std::string>& extra_env,
                                            std::string* sandbox, std::function<void(const ExitInfo&)> on_exit) {
  *sandbox = SandboxFor(framework_id, executor_id, container_id);
  std::error_code ec;
  fs::create_directories(*sandbox, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create sandbox ", *sandbox, ": ", ec.message()));
  LaunchSpec spec;
  spec.env = BaseEnvironment(framework_id, executor_id, *sandbox, framework);
  for (const auto& [k, v] : extra_env) spec.env[k] = v;
  SetCommand(cmd, &spec);
  spec.sandbox = *sandbox;
  spec.user = cmd.has_user() ? cmd.user() : framework.user();
  // A checkpointing framework's container outlives an agent crash, and its
  // exit status must too: corral-supervise waits for the command and
  // records how it ended.
  bool recoverable = framework.checkpoint();
  if (recoverable) {
    spec.status_path = absl::StrCat(meta_dir_, "/containers/", CheckpointName(container_id), ".exit");
    std::vector<std::string> argv = {"corral-supervise", spec.program};
    argv.insert(argv.end(), spec.argv.begin(), spec.argv.end());
    spec.argv = std::move(argv);
    spec.program = LauncherPath("corral-supervise");
  }
  // The supervisor of a recoverable container waits at its start gate until
  // the container is recorded; anything else dies with this agent. Either
  // way no process runs that a restarted agent could not account for.
  int gate[2] = {-1, -1};
  if (recoverable) {
    if (::pipe2(gate, O_CLOEXEC) != 0) {
      return absl::InternalError(absl::StrCat("cannot make a start gate: ", std::strerror(errno)));
    }
    spec.start_gate_fd = gate[0];
  } else {
    spec.die_with_launcher = true;
  }
  auto close_gate = [&] {
    for (int& fd : gate) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  };
  std::string cgroup;
  if (cgroups_ && cgroups_->enabled()) {
    auto created = cgroups_->Create(container_id, limits);
    if (!created.ok()) {
      close_gate();
      return created.status();
    }
    cgroup = created->name;
    spec.cgroup_procs = created->procs;
  }
  int exec_fd = -1;
  auto pid = Launch(spec, &exec_fd);
  if (!pid.ok()) {
    close_gate();
    DestroyCgroupsLater(container_id);
    return pid.status();
  }
  CheckpointContainer(container_id, framework_id, executor_id, *pid, *sandbox, spec.status_path, recoverable, cgroup);
  if (recoverable) {
    char go = 1;
    (void)!::write(gate[1], &go, 1);
    close_gate();
  }
  // The reaper may report the exit after this agent is gone: it reaches the
  // agent only through its loop, which drops work once stopped.
  ProcessReaper::Get().Watch(
      *pid, exec_fd,
      [loop = std::weak_ptr<EventLoop>(loop_), this, on_exit = std::move(on_exit), container_id,
       status_path = spec.status_path](ExitInfo exit) {
        // The supervisor's record is the command's own status.
        ExitInfo recorded;
        if (!status_path.empty() && exit.exec_errno == 0 && ReadSupervisedExit(status_path, &recorded)) exit = recorded;
        if (auto l = loop.lock()) {
          l->Post([this, on_exit, exit, container_id] {
            on_exit(exit);
            ForgetContainer(container_id);
          });
        }
      });
  return pid;
}

// The text after `prefix` on the last line of `path` that starts with it:
// how corral-fetcher and corral-check say why they failed.
static std::string LastWordOf(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, prefix)) last = line.substr(prefix.size());
  }
  return last;
}

std::string Agent::LauncherPath(const std::string& name) const {
  std::string dir = options_.launcher_dir;
  if (dir.empty()) {
    std::error_code ec;
    dir = fs::read_symlink("/proc/self/exe", ec).parent_path().string();
  }
  return dir + "/" + name;
}

absl::StatusOr<pid_t> Agent::StartFetcher(const std::string& framework_id, const std::string& executor_id,
                                          const std::string& container_id, const v1::CommandInfo& cmd,
                                          const v1::FrameworkInfo& framework, std::string* sandbox,
                                          std::function<void(const absl::Status&)> done) {
  *sandbox = SandboxFor(framework_id, executor_id, container_id);
  std::error_code ec;
  fs::create_directories(*sandbox, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create sandbox ", *sandbox, ": ", ec.message()));
  // Shared by every task user (sticky, like /tmp); entries appear by rename.
  std::string cache_dir = options_.work_dir + "/fetch-cache";
  if (fs::create_directories(cache_dir, ec)) ::chmod(cache_dir.c_str(), 01777);
  v1::CommandInfo uris;
  *uris.mutable_uris() = cmd.uris();
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(uris, &json).ok()) {
    return absl::InvalidArgumentError("'command.uris' cannot be encoded");
  }
  LaunchSpec spec;
  spec.program = LauncherPath("corral-fetcher");
  spec.argv = {"corral-fetcher", cache_dir};
  spec.env = BaseEnvironment(framework_id, executor_id, *sandbox, framework);
  spec.env["CORRAL_FETCHER_INFO"] = json;
  spec.sandbox = *sandbox;
  spec.user = cmd.has_user() ? cmd.user() : framework.user();
  // A fetch in progress is not recovered: it ends with the agent.
  spec.die_with_launcher = true;
  int exec_fd = -1;
  auto pid = Launch(spec, &exec_fd);
  if (!pid.ok()) return pid.status();
  ProcessReaper::Get().Watch(
      *pid, exec_fd,
      [loop = std::weak_ptr<EventLoop>(loop_), done = std::move(done), stderr_path = *sandbox + "/stderr"](
          const ExitInfo& exit) {
        absl::Status result;
        if (exit.exec_errno != 0) {
          result = absl::InternalError(absl::StrCat("cannot run corral-fetcher: ", std::strerror(exit.exec_errno)));
        } else if (!WIFEXITED(exit.wait_status) || WEXITSTATUS(exit.wait_status) != 0) {
          // The fetcher's last word on stderr says which URI failed and why.
          std::string why = LastWordOf(stderr_path, "corral-fetcher: ");
          if (why.empty()) why = DescribeExit(exit.wait_status);
          result = absl::UnavailableError(absl::StrCat("Failed to fetch: ", why));
        }
        if (auto l = loop.lock()) l->Post([done, result] { done(result); });
      });
  return pid;
}

Limits Agent::LimitsFor(const Resources& r) const {
  Limits l;
  l.cpus = FromMilli(r.Scalar("cpus"));
  l.mem_bytes = static_cast<uint64_t>(FromMilli(r.Scalar("mem")) * 1024 * 1024);
  l.cfs_quota = options_.cgroups_enable_cfs;
  l.pids_max = options_.cgroups_pids_max;
  return l;
}

v1::TaskStatus Agent::MakeStatus(const TaskRecord& task, v1::TaskState state, v1::TaskStatus::Source source,
                                 const std::string& message) {
  v1::TaskStatus st;
  *st.mutable_task_id() = task.info.task_id();
  st.set_state(state);
  st.set_source(source);
  if (!message.empty()) st.set_message(message);
  st.mutable_agent_id()->set_value(agent_id_);
  if (!task.executor_id.empty()) st.mutable_executor_id()->set_value(task.executor_id);
  st.set_timestamp(clock_->NowSeconds());
  st.set_uuid(NewUuidBytes());
  return st;
}

void Agent::RunTask(const v1::internal::RunTask& msg) {
  const v1::FrameworkInfo& fw = msg.framework();
  std::string fid = fw.id().value();
  Key key{fid, msg.task().task_id().value()};
  if (tasks_.count(key)) {
    CORRAL_LOG(WARNING) << "Ignoring a duplicate launch of task " << key.second;
    return;
  }
  absl::Status checkpointed = CheckpointFramework(fid, fw);
  TaskRecord& task = tasks_[key];
  task.framework_id = fid;
  task.info = msg.task();
  if (checkpointed.ok()) checkpointed = CheckpointTask(key);
  if (!checkpointed.ok()) {
    // Nothing runs that a restart could not account for.
    v1::TaskStatus st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT,
                                   absl::StrCat("Cannot checkpoint the task: ", checkpointed.message()));
    st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
    ProduceUpdate(fid, st);
    return;
  }
  if (msg.task().has_executor()) {
    task.executor_id = msg.task().executor().executor_id().value();
    std::string error;
    auto res = Resources::FromProto(msg.task().resources());
    ExecutorRecord* ex = EnsureExecutor(fw, msg.task().executor(), res.ok() ? *res : Resources(), &error);
    if (ex == nullptr) {
      v1::TaskStatus st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT, error);
      st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
      ProduceUpdate(fid, st);
      return;
    }
    ex->tasks.insert(key.second);
    CheckpointExecutor({fid, task.executor_id});
    RememberSandbox(key, ex->sandbox);
    ex->queued.push_back(msg.task());
    DeliverToExecutor(*ex);
    return;
  }
  LaunchCommandTask(task, fw);
}

void Agent::LaunchCommandTask(TaskRecord& task, const v1::FrameworkInfo& framework) {
  Key key{task.framework_id, task.info.task_id().value()};
  task.container_id = NewIdString();
  if (task.info.command().uris_size() == 0) {
    StartCommandTask(task, framework);
    return;
  }
  // Fetch first, in a process of its own; the task starts when it is done.
  // Until then task.pid is the fetcher's, so a kill stops the fetch.
  auto pid = StartFetcher(task.framework_id, key.second, task.container_id, task.info.command(), framework,
                          &task.sandbox, [this, key, framework](const absl::Status& fetched) {
                            OnTaskFetched(key, framework, fetched);
                          });
  if (!pid.ok()) {
    v1::TaskStatus st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT, std::string(pid.status().message()));
    st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
    ProduceUpdate(task.framework_id, st);
    return;
  }
  task.pid = *pid;
  RememberSandbox(key, task.sandbox);
}

void Agent::OnTaskFetched(const Key& key, const v1::FrameworkInfo& framework, const absl::Status& fetched) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.terminal) return;
  TaskRecord& task = it->second;
  if (task.kill_timer) loop_->Cancel(task.kill_timer);
  task.pid = 0;
  if (task.killing || !fetched.ok()) SandboxFinished(task.sandbox, {key});
  if (task.killing) {
    v1::TaskStatus st = MakeStatus(task, task.kill_state, v1::TaskStatus::SOURCE_AGENT,
                                   task.kill_message.empty() ? "Killed while fetching its URIs" : task.kill_message);
    if (task.has_kill_reason) st.set_reason(task.kill_reason);
    ProduceUpdate(key.first, st);
    return;
  }
  if (!fetched.ok()) {
    v1::TaskStatus st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT, std::string(fetched.message()));
    st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
    ProduceUpdate(key.first, st);
    return;
  }
  StartCommandTask(task, framework);
}

void Agent::StartCommandTask(TaskRecord& task, const v1::FrameworkInfo& framework) {
  Key key{task.framework_id, task.info.task_id().value()};
  const v1::CommandInfo& cmd = task.info.command();
  auto fail = [&](const std::string& why) {
    v1::TaskStatus st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT, why);
    st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
    ProduceUpdate(task.framework_id, st);
  };
  auto res = Resources::FromProto(task.info.resources());
  // A command task is its own executor, named after the task, as in Mesos.
  auto pid = StartContainer(task.framework_id, key.second, task.container_id, cmd, framework,
                            LimitsFor(res.ok() ? *res : Resources()), {{"MESOS_TASK_ID", key.second}},
                            &task.sandbox, [this, key](const ExitInfo& exit) { OnTaskExited(key, exit); });
  if (!pid.ok()) {
    fail(std::string(pid.status().message()));
    return;
  }
  task.pid = *pid;
  task.started_at = clock_->NowSeconds();
  RememberSandbox(key, task.sandbox);
  task.state = v1::TASK_RUNNING;
  ProduceUpdate(task.framework_id, MakeStatus(task, v1::TASK_RUNNING, v1::TaskStatus::SOURCE_EXECUTOR, ""));
  if (task.info.has_health_check()) {
    task.health.running_since = clock_->SteadySeconds();
    ScheduleHealthCheck(key, task.info.health_check().delay_seconds());
  }
  if (task.info.has_max_completion_time()) ArmDeadline(key, task.info.max_completion_time().nanoseconds() / 1e9);
}

void Agent::ArmDeadline(const Key& key, double seconds) {
  tasks_[key].deadline_timer = loop_->PostAfter(Seconds(std::max(0.0, seconds)), [this, key] {
    auto it = tasks_.find(key);
    if (it == tasks_.end() || it->second.terminal) return;
    it->second.kill_state = v1::TASK_FAILED;
    it->second.has_kill_reason = true;
    it->second.kill_reason = v1::TaskStatus::REASON_MAX_COMPLETION_TIME_REACHED;
    it->second.kill_message = "Task exceeded its max_completion_time";
    Kill(it->second, nullptr);
  });
}

void Agent::Kill(TaskRecord& task, const v1::KillPolicy* policy) {
  if (task.terminal || task.pid <= 0) return;
  Key key{task.framework_id, task.info.task_id().value()};
  if (!task.killing) {
    task.killing = true;
    auto fw = frameworks_.find(task.framework_id);
    if (fw != frameworks_.end() && HasCapability(fw->second, v1::FrameworkInfo::Capability::TASK_KILLING_STATE)) {
      task.state = v1::TASK_KILLING;
      ProduceUpdate(task.framework_id, MakeStatus(task, v1::TASK_KILLING, v1::TaskStatus::SOURCE_EXECUTOR, ""));
    }
  }
  double grace = options_.default_kill_grace;
  if (policy != nullptr && policy->has_grace_period()) grace = policy->grace_period().nanoseconds() / 1e9;
  else if (task.info.kill_policy().has_grace_period()) grace = task.info.kill_policy().grace_period().nanoseconds() / 1e9;
  ::kill(-task.pid, SIGTERM);
  if (task.kill_timer) loop_->Cancel(task.kill_timer);
  pid_t pid = task.pid;
  task.kill_timer = loop_->PostAfter(Seconds(grace), [this, key, pid] {
    auto it = tasks_.find(key);
    if (it != tasks_.end() && !it->second.terminal && it->second.pid == pid) ::kill(-pid, SIGKILL);
  });
}

void Agent::KillTask(const std::string& framework_id, const std::string& task_id, const v1::KillPolicy* policy) {
  Key key{framework_id, task_id};
  auto it = tasks_.find(key);
  if (it == tasks_.end()) {
    // Unknown here: the master believes otherwise, so tell it the truth.
    TaskRecord ghost;
    ghost.info.mutable_task_id()->set_value(task_id);
    v1::TaskStatus st = MakeStatus(ghost, v1::TASK_LOST, v1::TaskStatus::SOURCE_AGENT, "task is unknown to the agent");
    st.set_reason(v1::TaskStatus::REASON_TASK_UNKNOWN);
    ProduceUpdate(framework_id, st);
    return;
  }
  TaskRecord& task = it->second;
  if (task.terminal) return;
  if (task.executor_id.empty()) {
    Kill(task, policy);
    return;
  }
  auto ex = executors_.find({framework_id, task.executor_id});
  if (ex == executors_.end()) return;
  // Not yet handed to the executor: drop it here.
  auto& queued = ex->second.queued;
  for (auto q = queued.begin(); q != queued.end(); ++q) {
    if (q->task_id().value() == task_id) {
      queued.erase(q);
      v1::TaskStatus st = MakeStatus(task, v1::TASK_KILLED, v1::TaskStatus::SOURCE_AGENT, "killed before delivery to the executor");
      st.set_reason(v1::TaskStatus::REASON_TASK_KILLED_DURING_LAUNCH);
      ProduceUpdate(framework_id, st);
      return;
    }
  }
  if (ex->second.sink) {
    v1::executor::Event ev;
    ev.set_type(v1::executor::Event::KILL);
    ev.mutable_kill()->mutable_task_id()->set_value(task_id);
    if (policy) *ev.mutable_kill()->mutable_kill_policy() = *policy;
    ex->second.sink->Send(ev);
  }
}

void Agent::OnTaskExited(const Key& key, const ExitInfo& exit) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  TaskRecord& task = it->second;
  if (task.kill_timer) loop_->Cancel(task.kill_timer);
  if (task.deadline_timer) loop_->Cancel(task.deadline_timer);
  StopHealthChecks(task);
  // Anything the task left in its process group goes with it.
  if (task.pid > 0) ::kill(-task.pid, SIGKILL);
  bool oom = cgroups_ && cgroups_->enabled() && cgroups_->OomKilled(task.container_id);
  DestroyCgroupsLater(task.container_id);
  task.pid = -task.pid;  // mark as reaped; keep the number for nothing else
  SandboxFinished(task.sandbox, {key});
  v1::TaskStatus st;
  if (exit.not_started) {
    st = MakeStatus(task, v1::TASK_LOST, v1::TaskStatus::SOURCE_AGENT,
                    "The agent restarted before the task's command was started");
    st.set_reason(v1::TaskStatus::REASON_AGENT_RESTARTED);
  } else if (exit.exec_errno != 0) {
    st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_EXECUTOR,
                    absl::StrCat("Failed to execute '", Abbreviate(task.info.command().value()), "': ",
                                 std::strerror(exit.exec_errno)));
    st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
  } else if (oom) {
    auto res = Resources::FromProto(task.info.resources());
    st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT,
                    absl::StrCat("Memory limit exceeded: the task used more than its ",
                                 res.ok() ? FromMilli(res->Scalar("mem")) : 0, " MB of mem"));
    st.set_reason(v1::TaskStatus::REASON_CONTAINER_LIMITATION_MEMORY);
    for (const auto& r : task.info.resources()) if (r.name() == "mem") *st.mutable_limitation()->add_resources() = r;
  } else if (task.killing) {
    st = MakeStatus(task, task.kill_state, task.over_disk ? v1::TaskStatus::SOURCE_AGENT : v1::TaskStatus::SOURCE_EXECUTOR,
                    !task.kill_message.empty() ? task.kill_message
                    : exit.known              ? DescribeExit(exit.wait_status)
                                              : "Command killed");
    if (task.has_kill_reason) st.set_reason(task.kill_reason);
    if (task.killed_unhealthy) st.set_healthy(false);
    if (task.over_disk) {
      for (const auto& r : task.info.resources()) if (r.name() == "disk") *st.mutable_limitation()->add_resources() = r;
    }
  } else if (!exit.known) {
    st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT,
                    "The task ended while the agent was down, and its exit status was not recorded");
    st.set_reason(v1::TaskStatus::REASON_EXECUTOR_TERMINATED);
  } else if (WIFEXITED(exit.wait_status) && WEXITSTATUS(exit.wait_status) == 0) {
    st = MakeStatus(task, v1::TASK_FINISHED, v1::TaskStatus::SOURCE_EXECUTOR, DescribeExit(exit.wait_status));
  } else {
    st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_EXECUTOR, DescribeExit(exit.wait_status));
  }
  ProduceUpdate(key.first, st);
}

// --- health checks ----------------------------------------------------------------

void Agent::ScheduleHealthCheck(const Key& key, double after_seconds) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  it->second.health.next = loop_->PostAfter(Seconds(after_seconds), [this, key] { RunHealthCheck(key); });
}

void Agent::RunHealthCheck(const Key& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.terminal || it->second.killing || it->second.pid <= 0) return;
  TaskRecord& task = it->second;
  task.health.next = 0;
  const v1::HealthCheck& hc = task.info.health_check();
  const v1::FrameworkInfo& framework = frameworks_[task.framework_id];
  LaunchSpec spec;
  spec.env = BaseEnvironment(task.framework_id, key.second, task.sandbox, framework);
  spec.env["MESOS_TASK_ID"] = key.second;
  for (const auto& var : task.info.command().environment().variables()) spec.env[var.name()] = var.value();
  spec.sandbox = task.sandbox;
  // Each check's output replaces the last one's, so the file stays small and
  // its last line explains a failure.
  spec.output_path = task.sandbox + "/health_check.log";
  std::ofstream(spec.output_path, std::ios::trunc);
  spec.user = task.info.command().has_user() ? task.info.command().user() : framework.user();
  spec.die_with_launcher = true;  // a recovered agent starts its checks afresh
  switch (hc.type()) {
    case v1::HealthCheck::COMMAND:
      SetCommand(hc.command(), &spec);
      break;
    case v1::HealthCheck::HTTP: {
      std::string path = hc.http().path().empty() ? "/" : hc.http().path();
      if (path[0] != '/') path = "/" + path;
      spec.program = LauncherPath("corral-check");
      spec.argv = {"corral-check", "http",
                   absl::StrCat(hc.http().scheme().empty() ? "http" : hc.http().scheme(), "://", options_.ip, ":",
                                hc.http().port(), path)};
      for (uint32_t st : hc.http().statuses()) spec.argv.push_back(std::to_string(st));
      break;
    }
    case v1::HealthCheck::TCP:
      spec.program = LauncherPath("corral-check");
      spec.argv = {"corral-check", "tcp", options_.ip, std::to_string(hc.tcp().port())};
      break;
    default:
      return;  // validated by the master
  }
  int exec_fd = -1;
  auto pid = Launch(spec, &exec_fd);
  if (!pid.ok()) {
    ExitInfo failed;
    failed.exec_errno = ENOEXEC;
    OnHealthCheckDone(key, 0, failed);
    return;
  }
  task.health.check_pid = *pid;
  task.health.timed_out = false;
  ProcessReaper::Get().Watch(*pid, exec_fd, [loop = std::weak_ptr<EventLoop>(loop_), this, key, p = *pid](const ExitInfo& exit) {
    if (auto l = loop.lock()) l->Post([this, key, p, exit] { OnHealthCheckDone(key, p, exit); });
  });
  if (hc.timeout_seconds() > 0) {
    task.health.timeout = loop_->PostAfter(Seconds(hc.timeout_seconds()), [this, key, p = *pid] {
      auto t = tasks_.find(key);
      if (t == tasks_.end() || t->second.health.check_pid != p) return;
      t->second.health.timed_out = true;
      ::kill(-p, SIGKILL);
    });
  }
}

void Agent::OnHealthCheckDone(const Key& key, pid_t pid, const ExitInfo& exit) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  TaskRecord& task = it->second;
  TaskRecord::Health& h = task.health;
  if (h.check_pid != pid) return;
  h.check_pid = 0;
  if (h.timeout) loop_->Cancel(h.timeout);
  h.timeout = 0;
  if (task.terminal || task.killing || task.pid <= 0) return;
  const v1::HealthCheck& hc = task.info.health_check();
  bool ok = !h.timed_out && exit.exec_errno == 0 && WIFEXITED(exit.wait_status) && WEXITSTATUS(exit.wait_status) == 0;
  auto report = [&](bool healthy, const std::string& message) {
    v1::TaskStatus st = MakeStatus(task, v1::TASK_RUNNING, v1::TaskStatus::SOURCE_EXECUTOR, message);
    st.set_healthy(healthy);
    st.set_reason(v1::TaskStatus::REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
    h.reported = true;
    h.healthy = healthy;
    ProduceUpdate(key.first, st);
  };
  if (ok) {
    // As in Mesos: an update when the task first turns healthy, and after failures.
    bool changed = !h.reported || !h.healthy;
    h.succeeded_once = true;
    h.consecutive_failures = 0;
    if (changed) report(true, "");
  } else if (!h.succeeded_once && clock_->SteadySeconds() - h.running_since <= hc.grace_period_seconds()) {
    // Failures while the task is still starting up do not count.
  } else {
    std::string why = h.timed_out ? absl::StrCat("the check timed out after ", hc.timeout_seconds(), " s")
                      : exit.exec_errno ? absl::StrCat("the check could not run: ", std::strerror(exit.exec_errno))
                                        : LastWordOf(task.sandbox + "/health_check.log", "corral-check: ");
    if (why.empty()) why = absl::StrCat("the check ", DescribeExit(exit.wait_status).substr(8));
    ++h.consecutive_failures;
    report(false, absl::StrCat("Health check failed (", h.consecutive_failures, " in a row): ", why));
    // consecutive_failures of 0 reports health without ever killing.
    if (hc.consecutive_failures() > 0 && h.consecutive_failures >= hc.consecutive_failures()) {
      CORRAL_LOG(INFO) << "Killing task " << key.second << " after " << h.consecutive_failures
                       << " failed health checks";
      task.kill_state = v1::TASK_KILLED;
      task.has_kill_reason = true;
      task.kill_reason = v1::TaskStatus::REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
      task.kill_message = absl::StrCat("Task killed after ", h.consecutive_failures,
                                       " consecutive failed health checks; the last: ", why);
      task.killed_unhealthy = true;
      Kill(task, nullptr);
      return;
    }
  }
  ScheduleHealthCheck(key, hc.interval_seconds());
}

void Agent::StopHealthChecks(TaskRecord& task) {
  TaskRecord::Health& h = task.health;
  if (h.next) loop_->Cancel(h.next);
  if (h.timeout) loop_->Cancel(h.timeout);
  h.next = h.timeout = 0;
  if (h.check_pid > 0) ::kill(-h.check_pid, SIGKILL);
  h.check_pid = 0;
}

// --- executors -------------------------------------------------------------------

Agent::ExecutorRecord* Agent::EnsureExecutor(const v1::FrameworkInfo& framework, const v1::ExecutorInfo& info,
                                             const Resources& task_resources, std::string* error) {
  std::string fid = framework.id().value();
  Key key{fid, info.executor_id().value()};
  auto it = executors_.find(key);
  if (it != executors_.end()) {
    ExecutorRecord& ex = it->second;
    if (ex.shutting_down) {
      *error = absl::StrCat("executor '", key.second, "' is shutting down");
      return nullptr;
    }
    // Grow the container's limits by the new task's share.
    Limits more = LimitsFor(task_resources);
    ex.limits.cpus += more.cpus;
    ex.limits.mem_bytes += more.mem_bytes;
    if (cgroups_ && cgroups_->enabled()) cgroups_->Update(ex.container_id, ex.limits);
    return &ex;
  }
  ExecutorRecord ex;
  ex.framework_id = fid;
  ex.info = info;
  ex.info.mutable_framework_id()->set_value(fid);
  ex.container_id = NewIdString();
  v1::CommandInfo cmd = info.command();
  if (info.type() == v1::ExecutorInfo::DEFAULT || !info.has_command()) {
    cmd.set_shell(false);
    cmd.set_value(LauncherPath("corral-default-executor"));
    cmd.clear_arguments();
    cmd.add_arguments("corral-default-executor");
  }
  auto er = Resources::FromProto(info.resources());
  ex.limits = LimitsFor((er.ok() ? *er : Resources()) + task_resources);
  absl::StatusOr<pid_t> pid;
  if (cmd.uris_size() > 0) {
    // The executor starts once its URIs are fetched (OnExecutorFetched).
    pid = StartFetcher(fid, key.second, ex.container_id, cmd, framework, &ex.sandbox,
                       [this, key, cmd, framework](const absl::Status& fetched) {
                         OnExecutorFetched(key, cmd, framework, fetched);
                       });
  } else {
    pid = StartContainer(fid, key.second, ex.container_id, cmd, framework, ex.limits, {}, &ex.sandbox,
                         [this, key](const ExitInfo& exit) { OnExecutorExited(key, exit); });
  }
  if (!pid.ok()) {
    *error = absl::StrCat("cannot launch executor '", key.second, "': ", pid.status().message());
    return nullptr;
  }
  ex.pid = *pid;
  ex.registration_timer = loop_->PostAfter(Seconds(options_.executor_registration_timeout), [this, key] {
    auto it = executors_.find(key);
    if (it == executors_.end() || it->second.sink) return;
    CORRAL_LOG(WARNING) << "Executor " << key.second << " did not subscribe in time; killing it";
    it->second.shutting_down = true;
    if (it->second.pid > 0) ::kill(-it->second.pid, SIGKILL);
  });
  CORRAL_LOG(INFO) << "Launched executor " << key.second << " of framework " << fid << " (pid " << *pid << ")";
  ExecutorRecord* record = &(executors_[key] = std::move(ex));
  CheckpointExecutor(key);
  return record;
}

void Agent::RunTaskGroup(const v1::internal::RunTaskGroup& msg) {
  const v1::FrameworkInfo& fw = msg.framework();
  std::string fid = fw.id().value();
  absl::Status checkpointed = CheckpointFramework(fid, fw);
  Resources group_resources;
  for (const auto& t : msg.task_group().tasks()) {
    auto r = Resources::FromProto(t.resources());
    if (r.ok()) group_resources += *r;
  }
  std::string eid = msg.executor().executor_id().value();
  for (const auto& t : msg.task_group().tasks()) {
    TaskRecord& task = tasks_[{fid, t.task_id().value()}];
    task.framework_id = fid;
    task.info = t;
    task.executor_id = eid;
    if (checkpointed.ok()) checkpointed = CheckpointTask({fid, t.task_id().value()});
  }
  std::string error;
  ExecutorRecord* ex = nullptr;
  if (checkpointed.ok()) ex = EnsureExecutor(fw, msg.executor(), group_resources, &error);
  else error = absl::StrCat("Cannot checkpoint the task group: ", checkpointed.message());
  if (ex == nullptr) {
    for (const auto& t : msg.task_group().tasks()) {
      TaskRecord& task = tasks_[{fid, t.task_id().value()}];
      v1::TaskStatus st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT, error);
      st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
      ProduceUpdate(fid, st);
    }
    return;
  }
  for (const auto& t : msg.task_group().tasks()) {
    ex->tasks.insert(t.task_id().value());
    RememberSandbox({fid, t.task_id().value()}, ex->sandbox + "/tasks/" + t.task_id().value());
  }
  CheckpointExecutor({fid, eid});
  ex->queued_groups.push_back(msg.task_group());
  DeliverToExecutor(*ex);
}

void Agent::DeliverToExecutor(ExecutorRecord& ex) {
  if (!ex.sink) return;
  for (const v1::TaskInfo& t : ex.queued) {
    v1::executor::Event ev;
    ev.set_type(v1::executor::Event::LAUNCH);
    *ev.mutable_launch()->mutable_task() = t;
    ex.sink->Send(ev);
  }
  ex.queued.clear();
  for (const v1::TaskGroupInfo& g : ex.queued_groups) {
    v1::executor::Event ev;
    ev.set_type(v1::executor::Event::LAUNCH_GROUP);
    *ev.mutable_launch_group()->mutable_task_group() = g;
    ex.sink->Send(ev);
  }
  ex.queued_groups.clear();
}

void Agent::ShutdownExecutor(const Key& key, const std::string& why) {
  auto it = executors_.find(key);
  if (it == executors_.end() || it->second.shutting_down) return;
  ExecutorRecord& ex = it->second;
  CORRAL_LOG(INFO) << "Shutting down executor " << key.second << ": " << why;
  ex.shutting_down = true;
  if (ex.sink) {
    v1::executor::Event ev;
    ev.set_type(v1::executor::Event::SHUTDOWN);
    ex.sink->Send(ev);
  }
  double grace = ex.info.has_shutdown_grace_period() ? ex.info.shutdown_grace_period().nanoseconds() / 1e9
                                                    : options_.executor_shutdown_grace;
  pid_t pid = ex.pid;
  if (!ex.sink && pid > 0) ::kill(-pid, SIGKILL);
  ex.shutdown_timer = loop_->PostAfter(Seconds(grace), [this, key, pid] {
    auto it = executors_.find(key);
    if (it != executors_.end() && it->second.pid == pid && pid > 0) ::kill(-pid, SIGKILL);
  });
}

void Agent::OnExecutorFetched(const Key& key, const v1::CommandInfo& cmd, const v1::FrameworkInfo& framework,
                              const absl::Status& fetched) {
  auto it = executors_.find(key);
  if (it == executors_.end()) return;
  ExecutorRecord& ex = it->second;
  absl::Status s = fetched;
  if (s.ok() && ex.shutting_down) s = absl::AbortedError("the executor was shut down while its URIs were fetched");
  if (s.ok()) {
    auto pid = StartContainer(key.first, key.second, ex.container_id, cmd, framework, ex.limits, {}, &ex.sandbox,
                              [this, key](const ExitInfo& exit) { OnExecutorExited(key, exit); });
    if (pid.ok()) {
      ex.pid = *pid;
      CORRAL_LOG(INFO) << "Launched executor " << key.second << " of framework " << key.first << " (pid " << *pid << ")";
      return;
    }
    s = pid.status();
  }
  // The executor never ran: its tasks fail with the reason.
  SandboxFinished(ex.sandbox, ExecutorTaskKeys(key.first, ex));
  if (ex.registration_timer) loop_->Cancel(ex.registration_timer);
  if (ex.shutdown_timer) loop_->Cancel(ex.shutdown_timer);
  CORRAL_LOG(INFO) << "Executor " << key.second << " was not started: " << s.message();
  for (const std::string& tid : ex.tasks) {
    auto t = tasks_.find({key.first, tid});
    if (t == tasks_.end() || t->second.terminal) continue;
    v1::TaskStatus st = MakeStatus(t->second, ex.shutting_down ? v1::TASK_KILLED : v1::TASK_FAILED,
                                   v1::TaskStatus::SOURCE_AGENT, std::string(s.message()));
    st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
    ProduceUpdate(key.first, st);
  }
  AgentMessage m;
  m.mutable_executor_exited()->mutable_framework_id()->set_value(key.first);
  m.mutable_executor_exited()->mutable_executor_id()->set_value(key.second);
  m.mutable_executor_exited()->set_status(W_EXITCODE(1, 0));
  SendToMaster(m);
  RecordCompletedExecutor(key, ex);
  executors_.erase(it);
  ForgetExecutor(key);
}

void Agent::OnExecutorExited(const Key& key, const ExitInfo& exit) {
  auto it = executors_.find(key);
  if (it == executors_.end()) return;
  ExecutorRecord& ex = it->second;
  if (ex.registration_timer) loop_->Cancel(ex.registration_timer);
  if (ex.shutdown_timer) loop_->Cancel(ex.shutdown_timer);
  if (ex.pid > 0) ::kill(-ex.pid, SIGKILL);
  bool oom = cgroups_ && cgroups_->enabled() && cgroups_->OomKilled(ex.container_id);
  DestroyCgroupsLater(ex.container_id);
  if (ex.sink) ex.sink->Close();
  SandboxFinished(ex.sandbox, ExecutorTaskKeys(key.first, ex));
  std::string why = exit.not_started ? "The agent restarted before the executor was started"
                    : exit.exec_errno ? absl::StrCat("Failed to execute the executor: ", std::strerror(exit.exec_errno))
                    : ex.reregistration_timed_out
                        ? "The executor did not subscribe again within --executor_reregistration_timeout of the agent's restart"
                    : !exit.known ? "The executor ended while the agent was down"
                                  : absl::StrCat("Executor ", DescribeExit(exit.wait_status).substr(8));
  CORRAL_LOG(INFO) << "Executor " << key.second << " exited: " << why;
  for (const std::string& tid : ex.tasks) {
    auto t = tasks_.find({key.first, tid});
    if (t == tasks_.end() || t->second.terminal) continue;
    v1::TaskState state = exit.not_started                         ? v1::TASK_LOST
                          : ex.shutting_down && ex.over_disk.empty() ? v1::TASK_KILLED
                                                                     : v1::TASK_FAILED;
    v1::TaskStatus st = MakeStatus(t->second, state, v1::TaskStatus::SOURCE_AGENT, ex.over_disk.empty() ? why : ex.over_disk);
    if (!ex.over_disk.empty()) {
      for (const auto& r : t->second.info.resources()) if (r.name() == "disk") *st.mutable_limitation()->add_resources() = r;
    }
    st.set_reason(exit.not_started         ? v1::TaskStatus::REASON_AGENT_RESTARTED
                  : !ex.over_disk.empty()  ? v1::TaskStatus::REASON_CONTAINER_LIMITATION_DISK
                  : oom                    ? v1::TaskStatus::REASON_CONTAINER_LIMITATION_MEMORY
                      : exit.exec_errno ? v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED
                      : ex.reregistration_timed_out ? v1::TaskStatus::REASON_EXECUTOR_REREGISTRATION_TIMEOUT
                                        : v1::TaskStatus::REASON_EXECUTOR_TERMINATED);
    ProduceUpdate(key.first, st);
  }
  AgentMessage m;
  m.mutable_executor_exited()->mutable_framework_id()->set_value(key.first);
  m.mutable_executor_exited()->mutable_executor_id()->set_value(key.second);
  m.mutable_executor_exited()->set_status(exit.wait_status);
  SendToMaster(m);
  RecordCompletedExecutor(key, ex);
  executors_.erase(it);
  ForgetExecutor(key);
}

absl::Status Agent::ExecutorSubscribe(const v1::executor::Call& call, std::shared_ptr<ExecutorSink> sink) {
  if (call.type() != v1::executor::Call::SUBSCRIBE) return absl::InvalidArgumentError("'type' must be SUBSCRIBE");
  if (call.executor_id().value().empty()) return absl::InvalidArgumentError("'executor_id' is required");
  if (call.framework_id().value().empty()) return absl::InvalidArgumentError("'framework_id' is required");
  return loop_->Call([&]() -> absl::Status {
    Key key{call.framework_id().value(), call.executor_id().value()};
    auto it = executors_.find(key);
    if (it == executors_.end()) {
      return absl::NotFoundError(absl::StrCat("executor '", key.second, "' of framework '", key.first,
                                              "' is not known to this agent"));
    }
    ExecutorRecord& ex = it->second;
    if (ex.sink && ex.sink != sink) ex.sink->Close();
    ex.sink = sink;
    if (ex.registration_timer) loop_->Cancel(ex.registration_timer);
    ex.registration_timer = 0;
    if (ex.recovered) ReconcileExecutorTasks(ex, key, call);
    v1::executor::Event ev;
    ev.set_type(v1::executor::Event::SUBSCRIBED);
    auto* sub = ev.mutable_subscribed();
    *sub->mutable_executor_info() = ex.info;
    *sub->mutable_framework_info() = frameworks_[key.first];
    *sub->mutable_agent_info() = info_;
    sub->mutable_container_id()->set_value(ex.container_id);
    sink->Send(ev);
    if (ex.shutting_down) {
      v1::executor::Event sd;
      sd.set_type(v1::executor::Event::SHUTDOWN);
      sink->Send(sd);
    }
    DeliverToExecutor(ex);
    return absl::OkStatus();
  });
}

void Agent::ExecutorGone(const std::string& framework_id, const std::string& executor_id, ExecutorSink* sink) {
  loop_->Post([this, framework_id, executor_id, sink] {
    auto it = executors_.find({framework_id, executor_id});
    if (it != executors_.end() && it->second.sink.get() == sink) it->second.sink.reset();
  });
}

absl::Status Agent::ExecutorCall(const v1::executor::Call& call) {
  using C = v1::executor::Call;
  if (!call.has_type() || call.type() == C::UNKNOWN) return absl::InvalidArgumentError("'type' is missing or UNKNOWN");
  if (call.type() == C::SUBSCRIBE) return absl::InvalidArgumentError("SUBSCRIBE must be sent on a subscription stream");
  if (call.executor_id().value().empty()) return absl::InvalidArgumentError("'executor_id' is required");
  if (call.framework_id().value().empty()) return absl::InvalidArgumentError("'framework_id' is required");
  if (call.type() == C::UPDATE) {
    if (!call.has_update() || !call.update().has_status()) return absl::InvalidArgumentError("'update.status' is required");
    const v1::TaskStatus& st = call.update().status();
    if (st.task_id().value().empty()) return absl::InvalidArgumentError("'update.status.task_id' is required");
    if (!st.has_state()) return absl::InvalidArgumentError("'update.status.state' is required");
    if (st.state() == v1::TASK_STAGING) return absl::InvalidArgumentError("'update.status.state' must not be TASK_STAGING");
    if (st.has_uuid() && st.uuid().size() != 16) return absl::InvalidArgumentError("'update.status.uuid' must be 16 bytes");
  } else if (call.type() == C::MESSAGE) {
    if (!call.has_message()) return absl::InvalidArgumentError("'message' is required");
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unsupported call type ", C::Type_Name(call.type())));
  }
  return loop_->Call([&]() -> absl::Status {
    Key key{call.framework_id().value(), call.executor_id().value()};
    auto it = executors_.find(key);
    if (it == executors_.end()) return absl::NotFoundError(absl::StrCat("executor '", key.second, "' is not known to this agent"));
    ExecutorRecord& ex = it->second;
    if (call.type() == C::MESSAGE) {
      AgentMessage m;
      auto* em = m.mutable_executor_message();
      em->mutable_framework_id()->set_value(key.first);
      em->mutable_executor_id()->set_value(key.second);
      em->set_data(call.message().data());
      SendToMaster(m);
      return absl::OkStatus();
    }
    v1::TaskStatus st = call.update().status();
    auto t = tasks_.find({key.first, st.task_id().value()});
    if (t == tasks_.end() || t->second.executor_id != key.second) {
      return absl::NotFoundError(absl::StrCat("task '", st.task_id().value(), "' does not belong to executor '", key.second, "'"));
    }
    if (t->second.terminal) {
      return absl::FailedPreconditionError(absl::StrCat("task '", st.task_id().value(), "' is already terminal"));
    }
    if (!st.has_uuid()) st.set_uuid(NewUuidBytes());
    st.set_source(v1::TaskStatus::SOURCE_EXECUTOR);
    st.mutable_agent_id()->set_value(agent_id_);
    st.mutable_executor_id()->set_value(key.second);
    if (!st.has_timestamp()) st.set_timestamp(clock_->NowSeconds());
    t->second.state = st.state();
    std::string uuid = st.uuid();
    std::string task_id = st.task_id().value();
    ProduceUpdate(key.first, st);
    if (ex.sink) {
      v1::executor::Event ack;
      ack.set_type(v1::executor::Event::ACKNOWLEDGED);
      ack.mutable_acknowledged()->mutable_task_id()->set_value(task_id);
      ack.mutable_acknowledged()->set_uuid(uuid);
      ex.sink->Send(ack);
    }
    return absl::OkStatus();
  });
}

void Agent::RememberSandbox(const Key& key, const std::string& sandbox) {
  constexpr size_t kMaxSandboxes = 10000;
  if (sandboxes_.emplace(key, sandbox).second) sandbox_order_.push_back(key);
  while (sandbox_order_.size() > kMaxSandboxes) {
    sandboxes_.erase(sandbox_order_.front());
    sandbox_order_.pop_front();
  }
}

// --- status update manager --------------------------------------------------------

void Agent::ProduceUpdate(const std::string& framework_id, v1::TaskStatus status) {
  Key key{framework_id, status.task_id().value()};
  auto t = tasks_.find(key);
  if (t != tasks_.end()) {
    t->second.state = status.state();
    t->second.latest = status;
    TrimForKeeping(&t->second.latest);
    if (IsTerminalState(status.state()) && !t->second.terminal) {
      t->second.terminal = true;
      CountTerminal(status.state());
    }
  }
  ++valid_status_updates_;
  UpdateStream& stream = updates_[key];
  // A queued, not yet sent update of the same non-terminal state (a health
  // report, say) is replaced by the newer one rather than kept: a framework
  // that does not acknowledge cannot make the queue grow without bound. The
  // update in flight (the head) is never replaced.
  if (stream.pending.size() >= 2 && stream.pending.back().state() == status.state() &&
      !IsTerminalState(status.state())) {
    stream.pending.back() = std::move(status);
    CheckpointTask(key).IgnoreError();  // logged there
    return;
  }
  stream.pending.push_back(std::move(status));
  // Durable before it is sent: an update the framework may see is never
  // forgotten by a restart.
  CheckpointTask(key).IgnoreError();
  if (stream.pending.size() == 1) ForwardHead(key, stream);
}

void Agent::ForwardHead(const Key& key, UpdateStream& stream) {
  if (stream.pending.empty()) return;
  AgentMessage m;
  auto* su = m.mutable_status_update();
  su->mutable_framework_id()->set_value(key.first);
  *su->mutable_status() = stream.pending.front();
  su->set_latest_state(stream.pending.back().state());
  SendToMaster(m);
  if (stream.backoff == 0) stream.backoff = options_.status_update_retry_min;
  stream.next_retry = clock_->SteadySeconds() + stream.backoff;
}

void Agent::OnAcknowledgement(const v1::internal::StatusUpdateAcknowledgement& ack) {
  Key key{ack.framework_id().value(), ack.task_id().value()};
  auto it = updates_.find(key);
  if (it == updates_.end() || it->second.pending.empty()) return;
  UpdateStream& stream = it->second;
  if (stream.pending.front().uuid() != ack.uuid()) return;  // stale or duplicate
  bool terminal = IsTerminalState(stream.pending.front().state());
  stream.pending.pop_front();
  stream.backoff = 0;
  if (!stream.pending.empty()) {
    CheckpointTask(key).IgnoreError();
    ForwardHead(key, stream);
    return;
  }
  updates_.erase(it);
  if (terminal) CleanupTask(key);
  else CheckpointTask(key).IgnoreError();
}

absl::StatusOr<std::pair<std::string, int64_t>> Agent::ReadSandboxFile(const std::string& framework_id,
                                                                        const std::string& task_id,
                                                                        const std::string& path, int64_t offset,
                                                                        int64_t length) {
  if (path.empty() || path[0] == '/') return absl::InvalidArgumentError("'path' must be relative to the sandbox");
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return absl::PermissionDeniedError("'path' must not contain '..'");
  }
  if (offset < 0 || length < 0) return absl::InvalidArgumentError("'offset' and 'length' must not be negative");
  std::string sandbox = loop_->Call([&] {
    auto it = sandboxes_.find({framework_id, task_id});
    return it == sandboxes_.end() ? std::string() : it->second;
  });
  if (sandbox.empty()) {
    return absl::NotFoundError(absl::StrCat("no sandbox for task '", task_id, "' on this agent"));
  }
  std::error_code ec;
  fs::path real = fs::weakly_canonical(fs::path(sandbox) / path, ec);
  fs::path root = fs::weakly_canonical(sandbox, ec);
  // Inside the root itself, not merely sharing its prefix (".../runs/c1" vs ".../runs/c10").
  std::string prefix = root.string() + "/";
  if (ec || (real != root && real.string().compare(0, prefix.size(), prefix) != 0)) {
    return absl::PermissionDeniedError("'path' leaves the sandbox");
  }
  std::ifstream in(real, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("'", path, "' does not exist in the sandbox"));
  in.seekg(0, std::ios::end);
  int64_t size = in.tellg();
  std::string data;
  if (offset < size) {
    // One read returns at most kMaxSandboxRead: a client asking for more
    // reads again from where this one ended.
    int64_t n = std::min<int64_t>(length > 0 ? std::min(length, kMaxSandboxRead) : kMaxSandboxRead, size - offset);
    data.resize(n);
    in.seekg(offset);
    in.read(data.data(), n);
    data.resize(in.gcount());
  }
  return std::make_pair(data, size);
}

std::vector<Agent::Key> Agent::ExecutorTaskKeys(const std::string& framework_id, const ExecutorRecord& ex) {
  std::vector<Key> keys;
  for (const std::string& tid : ex.tasks) keys.push_back({framework_id, tid});
  return keys;
}

void Agent::SandboxFinished(const std::string& sandbox, std::vector<Key> tasks) {
  if (sandbox.empty()) return;
  finished_sandboxes_.push_back({clock_->SteadySeconds(), sandbox, std::move(tasks)});
}

void Agent::CollectSandboxes() {
  if (stopping_) return;
  double usage = 0;
  struct statvfs st;
  if (::statvfs(options_.work_dir.c_str(), &st) == 0 && st.f_blocks > 0) {
    usage = 1.0 - static_cast<double>(st.f_bavail) / static_cast<double>(st.f_blocks);
  }
  double max_age = SandboxMaxAge(options_.gc_delay, options_.gc_disk_headroom, usage);
  double now = clock_->SteadySeconds();
  size_t removed = 0;
  while (!finished_sandboxes_.empty() && now - finished_sandboxes_.front().finished_at >= max_age) {
    FinishedSandbox& f = finished_sandboxes_.front();
    for (const Key& k : f.tasks) sandboxes_.erase(k);  // reads of its files now say it is gone
    sandbox_remover_->Post([path = f.path] {
      std::error_code ec;
      fs::remove_all(path, ec);
      if (ec) CORRAL_LOG(WARNING) << "Cannot remove sandbox " << path << ": " << ec.message();
    });
    finished_sandboxes_.pop_front();
    ++removed;
  }
  if (removed > 0) {
    CORRAL_LOG(INFO) << "Removing " << removed << " finished sandboxes older than " << max_age << " s (disk "
                     << static_cast<int>(usage * 100) << "% used)";
  }
  loop_->PostAfter(Seconds(options_.disk_watch_interval), [this] { CollectSandboxes(); });
}

void Agent::WatchDisk() {
  if (stopping_) return;
  auto disk_of = [](const google::protobuf::RepeatedPtrField<v1::Resource>& resources) {
    double mb = 0;
    for (const auto& r : resources) if (r.name() == "disk" && r.has_scalar()) mb += r.scalar().value();
    return static_cast<uint64_t>(mb * 1024 * 1024);
  };
  std::vector<DiskUse> uses;
  for (const auto& [key, task] : tasks_) {
    if (!task.executor_id.empty() || task.terminal || task.killing || task.pid <= 0 || task.sandbox.empty()) continue;
    if (uint64_t limit = disk_of(task.info.resources()); limit > 0) uses.push_back({key, false, task.sandbox, limit, 0});
  }
  for (const auto& [key, ex] : executors_) {
    if (ex.pid <= 0 || ex.sandbox.empty() || !ex.over_disk.empty()) continue;
    uint64_t limit = disk_of(ex.info.resources());
    for (const std::string& tid : ex.tasks) {
      auto t = tasks_.find({key.first, tid});
      if (t != tasks_.end()) limit += disk_of(t->second.info.resources());
    }
    if (limit > 0) uses.push_back({key, true, ex.sandbox, limit, 0});
  }
  if (uses.empty()) {
    loop_->PostAfter(Seconds(options_.container_disk_watch_interval), [this] { WatchDisk(); });
    return;
  }
  disk_watcher_->Post([this, loop = std::weak_ptr<EventLoop>(loop_), uses]() mutable {
    for (DiskUse& u : uses) u.used = DiskUsage(u.sandbox);
    if (auto l = loop.lock()) l->Post([this, uses] { OnDiskUse(uses); });
  });
}

void Agent::OnDiskUse(const std::vector<DiskUse>& uses) {
  if (stopping_) return;
  for (const DiskUse& u : uses) {
    if (u.used <= u.limit) continue;
    std::string why = DiskLimitMessage(u.used, u.limit);
    if (u.executor) {
      auto ex = executors_.find(u.key);
      if (ex == executors_.end() || ex->second.sandbox != u.sandbox || ex->second.pid <= 0) continue;
      CORRAL_LOG(INFO) << "Killing executor " << u.key.second << ": " << why;
      ex->second.over_disk = why;
      ::kill(-ex->second.pid, SIGKILL);
      continue;
    }
    auto t = tasks_.find(u.key);
    if (t == tasks_.end() || t->second.terminal || t->second.killing || t->second.sandbox != u.sandbox) continue;
    CORRAL_LOG(INFO) << "Killing task " << u.key.second << ": " << why;
    TaskRecord& task = t->second;
    task.kill_state = v1::TASK_FAILED;
    task.has_kill_reason = true;
    task.kill_reason = v1::TaskStatus::REASON_CONTAINER_LIMITATION_DISK;
    task.kill_message = why;
    task.over_disk = true;
    v1::KillPolicy now;  // no grace: it is the disk that is short
    now.mutable_grace_period()->set_nanoseconds(0);
    Kill(task, &now);
  }
  loop_->PostAfter(Seconds(options_.container_disk_watch_interval), [this] { WatchDisk(); });
}

void Agent::DestroyCgroupsLater(const std::string& container_id) {
  if (!cgroups_ || !cgroups_->enabled() || container_id.empty()) return;
  Cgroups* cg = cgroups_.get();
  cgroup_cleaner_->Post([cg, container_id] { cg->Release(container_id); });
}

void Agent::CleanupTask(const Key& key) {
  auto t = tasks_.find(key);
  if (t == tasks_.end() || !t->second.terminal) return;
  if (!t->second.executor_id.empty()) {
    auto ex = executors_.find({key.first, t->second.executor_id});
    if (ex != executors_.end()) {
      ex->second.tasks.erase(key.second);
      CheckpointExecutor(ex->first);
    }
  }
  RecordCompletedTask(t->second);
  tasks_.erase(t);
  ForgetTask(key);
}

void Agent::RetryUpdates() {
  if (stopping_) return;
  double now = clock_->SteadySeconds();
  for (auto& [key, stream] : updates_) {
    if (stream.pending.empty() || stream.next_retry > now || !registered_) continue;
    stream.backoff = std::min(stream.backoff * 2, options_.status_update_retry_max);
    ForwardHead(key, stream);
  }
  loop_->PostAfter(Seconds(0.5), [this] { RetryUpdates(); });
}

}  // namespace corral

// --- checkpointing and recovery -------------------------------------------------

namespace corral {

namespace {

// The checkpoint files in `dir` (not temporaries, not exit records).
std::vector<std::string> CheckpointFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file(ec) || absl::EndsWith(name, ".tmp") || absl::EndsWith(name, ".exit")) continue;
    out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void RemoveFile(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace

bool Agent::Checkpoints(const std::string& framework_id) const {
  auto it = frameworks_.find(framework_id);
  return it != frameworks_.end() && it->second.checkpoint();
}

std::string Agent::FrameworkMetaDir(const std::string& framework_id) const {
  return absl::StrCat(meta_dir_, "/frameworks/", CheckpointName(framework_id));
}

absl::Status Agent::CheckpointAgent() {
  v1::internal::AgentCheckpoint c;
  *c.mutable_info() = info_;
  c.set_boot_id(boot_id_);
  return WriteCheckpointFile(meta_dir_ + "/agent", c, true);
}

absl::Status Agent::CheckpointFramework(const std::string& framework_id, const v1::FrameworkInfo& info) {
  auto it = frameworks_.find(framework_id);
  bool changed = it == frameworks_.end() || it->second.SerializeAsString() != info.SerializeAsString();
  frameworks_[framework_id] = info;
  if (!changed || !info.checkpoint()) return absl::OkStatus();
  std::string dir = FrameworkMetaDir(framework_id);
  std::error_code ec;
  fs::create_directories(dir + "/tasks", ec);
  fs::create_directories(dir + "/executors", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  v1::internal::FrameworkCheckpoint c;
  *c.mutable_info() = info;
  return WriteCheckpointFile(dir + "/framework", c, true);
}

absl::Status Agent::CheckpointTask(const Key& key) {
  if (!Checkpoints(key.first)) return absl::OkStatus();
  auto t = tasks_.find(key);
  if (t == tasks_.end()) return absl::OkStatus();
  const TaskRecord& task = t->second;
  v1::internal::TaskCheckpoint c;
  *c.mutable_info() = task.info;
  c.set_executor_id(task.executor_id);
  c.set_container_id(task.container_id);
  c.set_sandbox(task.sandbox);
  c.set_state(task.state);
  if (task.latest.has_state()) *c.mutable_latest() = task.latest;
  c.set_started_at(task.started_at);
  auto u = updates_.find(key);
  if (u != updates_.end()) for (const v1::TaskStatus& st : u->second.pending) *c.add_pending() = st;
  absl::Status s = WriteCheckpointFile(
      absl::StrCat(FrameworkMetaDir(key.first), "/tasks/", CheckpointName(key.second)), c, true);
  if (!s.ok()) CORRAL_LOG(ERROR) << "Cannot checkpoint task " << key.second << ": " << s.message();
  return s;
}

void Agent::CheckpointExecutor(const Key& key) {
  if (!Checkpoints(key.first)) return;
  auto it = executors_.find(key);
  if (it == executors_.end()) return;
  v1::internal::ExecutorCheckpoint c;
  *c.mutable_info() = it->second.info;
  c.set_container_id(it->second.container_id);
  c.set_sandbox(it->second.sandbox);
  for (const std::string& t : it->second.tasks) c.add_tasks(t);
  absl::Status s = WriteCheckpointFile(
      absl::StrCat(FrameworkMetaDir(key.first), "/executors/", CheckpointName(key.second)), c, true);
  if (!s.ok()) CORRAL_LOG(ERROR) << "Cannot checkpoint executor " << key.second << ": " << s.message();
}

void Agent::ForgetTask(const Key& key) {
  if (Checkpoints(key.first)) RemoveFile(absl::StrCat(FrameworkMetaDir(key.first), "/tasks/", CheckpointName(key.second)));
}

void Agent::ForgetExecutor(const Key& key) {
  if (Checkpoints(key.first)) {
    RemoveFile(absl::StrCat(FrameworkMetaDir(key.first), "/executors/", CheckpointName(key.second)));
  }
}

void Agent::CheckpointContainer(const std::string& container_id, const std::string& framework_id,
                                const std::string& executor_id, pid_t pid, const std::string& sandbox,
                                const std::string& status_path, bool recoverable, const std::string& cgroup) {
  v1::internal::ContainerCheckpoint c;
  c.set_cgroup(cgroup);
  c.set_container_id(container_id);
  c.set_framework_id(framework_id);
  c.set_executor_id(executor_id);
  c.set_pid(pid);
  c.set_start_time(ProcessStartTime(pid));
  c.set_sandbox(sandbox);
  c.set_status_path(status_path);
  c.set_recoverable(recoverable);
  // Synced only for containers that outlive a crash: the others are killed
  // on recovery, and a machine crash ends them anyway.
  absl::Status s = WriteCheckpointFile(absl::StrCat(meta_dir_, "/containers/", CheckpointName(container_id)), c,
                                       recoverable);
  if (!s.ok()) CORRAL_LOG(ERROR) << "Cannot record container " << container_id << ": " << s.message();
}

void Agent::ForgetContainer(const std::string& container_id) {
  std::string base = absl::StrCat(meta_dir_, "/containers/", CheckpointName(container_id));
  RemoveFile(base);
  RemoveFile(base + ".exit");
}

void Agent::KillRecordedContainers(const std::string& boot_id) {
  for (const std::string& path : CheckpointFiles(meta_dir_ + "/containers")) {
    v1::internal::ContainerCheckpoint c;
    if (ReadCheckpointFile(path, &c).ok() && boot_id == boot_id_) KillRecordedProcessGroup(c.pid(), c.start_time());
    RemoveFile(path);
    RemoveFile(path + ".exit");
  }
  // And whatever is in this agent's cgroups, recorded or not.
  SweepCgroups({});
}

void Agent::SweepCgroups(const std::map<std::string, std::string>& adopted) {
  if (!cgroups_ || !cgroups_->enabled()) return;
  size_t killed = cgroups_->Recover(adopted);
  if (killed > 0) {
    CORRAL_LOG(WARNING) << "Killed " << killed << " processes left by the last run in cgroups no recovered "
                        << "container claims";
  }
}

absl::Status Agent::Recover() {
  meta_dir_ = options_.work_dir + "/meta";
  boot_id_ = BootId();
  std::error_code ec;
  fs::create_directories(meta_dir_ + "/containers", ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("cannot create ", meta_dir_, ": ", ec.message()));
  const std::string hint = "; start the agent with --recover=cleanup to discard its checkpointed state "
                           "(killing what it still runs) and register as a new agent";
  v1::internal::AgentCheckpoint agent;
  absl::Status s = ReadCheckpointFile(meta_dir_ + "/agent", &agent);
  if (options_.recover == "cleanup") {
    std::string boot = s.ok() ? agent.boot_id() : boot_id_;
    KillRecordedContainers(boot);
    fs::remove_all(meta_dir_ + "/frameworks", ec);
    RemoveFile(meta_dir_ + "/agent");
    CORRAL_LOG(INFO) << "Discarded the checkpointed state under " << meta_dir_ << " (--recover=cleanup)";
    return absl::OkStatus();
  }
  if (absl::IsNotFound(s)) {
    // Never registered: nothing to recover, but nothing of an earlier run
    // may keep running either.
    KillRecordedContainers(boot_id_);
    return absl::OkStatus();
  }
  if (!s.ok()) return absl::DataLossError(absl::StrCat(s.message(), hint));
  auto old_total = Resources::FromProto(agent.info().resources());
  if (!old_total.ok() || !(*old_total == total_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the agent's resources changed since it last ran (were ", old_total.ok() ? old_total->ToString() : "invalid",
        ", now ", total_.ToString(), ")", hint));
  }
  v1::AgentInfo now_attrs, old_attrs;
  *now_attrs.mutable_attributes() = info_.attributes();
  *old_attrs.mutable_attributes() = agent.info().attributes();
  if (now_attrs.SerializeAsString() != old_attrs.SerializeAsString()) {
    return absl::FailedPreconditionError(absl::StrCat("the agent's attributes changed since it last ran", hint));
  }
  agent_id_ = agent.info().id().value();
  info_.mutable_id()->set_value(agent_id_);
  bool same_boot = agent.boot_id() == boot_id_;
  if (!same_boot) CORRAL_LOG(WARNING) << "The machine rebooted since the agent last ran: its containers are gone";

  // Frameworks, their executors and tasks. Any unreadable file stops the
  // agent: it must not run on state it cannot trust.
  for (const auto& entry : fs::directory_iterator(meta_dir_ + "/frameworks", ec)) {
    std::string dir = entry.path().string();
    v1::internal::FrameworkCheckpoint fc;
    if (absl::Status r = ReadCheckpointFile(dir + "/framework", &fc); !r.ok()) {
      return absl::DataLossError(absl::StrCat(r.message(), hint));
    }
    std::string fid = fc.info().id().value();
    frameworks_[fid] = fc.info();
    for (const std::string& path : CheckpointFiles(dir + "/executors")) {
      v1::internal::ExecutorCheckpoint xc;
      if (absl::Status r = ReadCheckpointFile(path, &xc); !r.ok()) return absl::DataLossError(absl::StrCat(r.message(), hint));
      Key key{fid, xc.info().executor_id().value()};
      ExecutorRecord& ex = executors_[key];
      ex.framework_id = fid;
      ex.info = xc.info();
      ex.container_id = xc.container_id();
      ex.sandbox = xc.sandbox();
      ex.tasks.insert(xc.tasks().begin(), xc.tasks().end());
      ex.recovered = true;
    }
    for (const std::string& path : CheckpointFiles(dir + "/tasks")) {
      v1::internal::TaskCheckpoint tc;
      if (absl::Status r = ReadCheckpointFile(path, &tc); !r.ok()) return absl::DataLossError(absl::StrCat(r.message(), hint));
      Key key{fid, tc.info().task_id().value()};
      TaskRecord& task = tasks_[key];
      task.framework_id = fid;
      task.info = tc.info();
      task.executor_id = tc.executor_id();
      task.container_id = tc.container_id();
      task.sandbox = tc.sandbox();
      task.state = tc.state();
      task.latest = tc.latest();
      task.terminal = IsTerminalState(tc.state());
      task.started_at = tc.started_at();
      if (tc.pending_size() > 0) {
        UpdateStream& stream = updates_[key];
        stream.pending.assign(tc.pending().begin(), tc.pending().end());
      }
      if (!task.sandbox.empty()) RememberSandbox(key, task.sandbox);
      else if (!task.executor_id.empty()) {
        auto ex = executors_.find({fid, task.executor_id});
        if (ex != executors_.end()) RememberSandbox(key, ex->second.sandbox);
      }
    }
  }

  // Containers: reattach those of recovered tasks and executors; kill the
  // rest (non-checkpointing frameworks, and anything no record claims).
  std::map<std::string, std::string> adopted;  // container ID -> its cgroup
  for (const std::string& path : CheckpointFiles(meta_dir_ + "/containers")) {
    v1::internal::ContainerCheckpoint c;
    if (absl::Status r = ReadCheckpointFile(path, &c); !r.ok()) {
      return absl::DataLossError(absl::StrCat(r.message(), hint));
    }
    bool alive = same_boot && c.pid() > 0 && c.start_time() != 0 && ProcessStartTime(c.pid()) == c.start_time();
    Key owner{c.framework_id(), c.executor_id()};
    auto ex = executors_.find(owner);
    auto task = tasks_.find(owner);
    bool claimed = c.recoverable() &&
                   ((ex != executors_.end() && ex->second.container_id == c.container_id()) ||
                    (task != tasks_.end() && task->second.container_id == c.container_id() &&
                     task->second.executor_id.empty()));
    if (!claimed) {
      if (same_boot && KillRecordedProcessGroup(c.pid(), c.start_time())) {
        CORRAL_LOG(INFO) << "Killed container " << c.container_id() << " (pid " << c.pid()
                         << ") left by the last run: no checkpointed task or executor claims it";
      }
      RemoveFile(path);
      RemoveFile(path + ".exit");
      continue;
    }
    if (alive) {
      if (ex != executors_.end() && ex->second.container_id == c.container_id()) ex->second.pid = c.pid();
      else task->second.pid = c.pid();
      adopted[c.container_id()] = c.cgroup();
    }
    std::weak_ptr<EventLoop> loop = loop_;
    auto on_exit = [loop, this, c](const ExitInfo& exit) {
      if (auto l = loop.lock()) l->Post([this, c, exit] { OnRecoveredContainerExit(c, exit); });
    };
    ExitInfo unknown;
    unknown.known = false;
    if (!alive || !ProcessReaper::Get().Adopt(c.pid(), on_exit)) {
      loop_->Post([this, c, unknown] { OnRecoveredContainerExit(c, unknown); });
    }
  }
  SweepCgroups(adopted);

  size_t running = 0, lost = 0;
  for (auto& [key, task] : tasks_) {
    if (task.terminal) continue;
    // Running, or ended with its exit still to be reported (its container's
    // record is still there): either way its container accounts for it.
    auto accounted = [&](pid_t pid, const std::string& container_id) {
      return pid > 0 || (!container_id.empty() &&
                         fs::exists(absl::StrCat(meta_dir_, "/containers/", CheckpointName(container_id))));
    };
    auto ex = executors_.find({key.first, task.executor_id});
    bool has_container = task.executor_id.empty()
                             ? accounted(task.pid, task.container_id)
                             : ex != executors_.end() && accounted(ex->second.pid, ex->second.container_id);
    if (has_container) {
      ++running;
      if (task.pid > 0) ResumeRecoveredTask(key);
      continue;
    }
    // Its container never started (the agent stopped while fetching, say)
    // or its executor is gone without a trace.
    ++lost;
    v1::TaskStatus st = MakeStatus(task, v1::TASK_LOST, v1::TaskStatus::SOURCE_AGENT,
                                   "The agent restarted before the task's container was running");
    st.set_reason(v1::TaskStatus::REASON_AGENT_RESTARTED);
    ProduceUpdate(key.first, st);
  }
  for (auto& [key, ex] : executors_) {
    if (ex.pid <= 0) continue;
    ex.limits = LimitsFor([&] {
      Resources r;
      auto er = Resources::FromProto(ex.info.resources());
      if (er.ok()) r += *er;
      for (const std::string& tid : ex.tasks) {
        auto t = tasks_.find({key.first, tid});
        if (t == tasks_.end()) continue;
        auto tr = Resources::FromProto(t->second.info.resources());
        if (tr.ok()) r += *tr;
      }
      return r;
    }());
    Key k = key;
    ex.registration_timer = loop_->PostAfter(Seconds(options_.executor_reregistration_timeout), [this, k] {
      auto it = executors_.find(k);
      if (it == executors_.end() || it->second.sink) return;
      CORRAL_LOG(WARNING) << "Recovered executor " << k.second << " did not subscribe again in time; killing it";
      it->second.reregistration_timed_out = true;
      if (it->second.pid > 0) ::kill(-it->second.pid, SIGKILL);
    });
  }
  CORRAL_LOG(INFO) << "Recovered agent " << agent_id_ << ": " << frameworks_.size() << " frameworks, "
                   << executors_.size() << " executors, " << running << " running tasks"
                   << (lost ? absl::StrCat(", ", lost, " lost") : "");
  return absl::OkStatus();
}

void Agent::OnRecoveredContainerExit(const v1::internal::ContainerCheckpoint& c, ExitInfo exit) {
  ExitInfo recorded;
  if (!c.status_path().empty() && ReadSupervisedExit(c.status_path(), &recorded)) exit = recorded;
  Key owner{c.framework_id(), c.executor_id()};
  auto ex = executors_.find(owner);
  if (ex != executors_.end() && ex->second.container_id == c.container_id()) {
    OnExecutorExited(owner, exit);
  } else {
    auto task = tasks_.find(owner);
    if (task != tasks_.end() && task->second.container_id == c.container_id()) {
      SandboxFinished(task->second.sandbox, {owner});
      OnTaskExited(owner, exit);
    }
  }
  ForgetContainer(c.container_id());
}

void Agent::ResumeRecoveredTask(const Key& key) {
  TaskRecord& task = tasks_[key];
  if (task.info.has_health_check()) {
    task.health.running_since = clock_->SteadySeconds();
    ScheduleHealthCheck(key, task.info.health_check().delay_seconds());
  }
  if (task.info.has_max_completion_time() && task.started_at > 0) {
    // It counts from the task's start, not the agent's.
    ArmDeadline(key, task.started_at + task.info.max_completion_time().nanoseconds() / 1e9 - clock_->NowSeconds());
  }
}

void Agent::ReconcileExecutorTasks(ExecutorRecord& ex, const Key& key, const v1::executor::Call& subscribe) {
  ex.recovered = false;
  std::set<std::string> known;
  // Updates the executor sent that this agent never recorded (it stopped
  // before checkpointing them) are taken now; those it has are not.
  for (const auto& u : subscribe.subscribe().unacknowledged_updates()) {
    const v1::TaskStatus& st = u.status();
    known.insert(st.task_id().value());
    auto t = tasks_.find({key.first, st.task_id().value()});
    if (t == tasks_.end() || t->second.terminal || t->second.executor_id != key.second) continue;
    bool have = t->second.latest.uuid() == st.uuid();
    auto stream = updates_.find(t->first);
    if (stream != updates_.end()) {
      for (const auto& p : stream->second.pending) have = have || p.uuid() == st.uuid();
    }
    if (have) continue;
    v1::TaskStatus status = st;
    status.set_source(v1::TaskStatus::SOURCE_EXECUTOR);
    status.mutable_agent_id()->set_value(agent_id_);
    status.mutable_executor_id()->set_value(key.second);
    ProduceUpdate(key.first, status);
  }
  for (const auto& t : subscribe.subscribe().unacknowledged_tasks()) known.insert(t.task_id().value());
  // A task still staging that the executor does not know was never
  // delivered to it: the agent stopped first.
  for (const std::string& tid : std::set<std::string>(ex.tasks)) {
    auto t = tasks_.find({key.first, tid});
    if (t == tasks_.end() || t->second.terminal || t->second.state != v1::TASK_STAGING || known.count(tid)) continue;
    v1::TaskStatus st = MakeStatus(t->second, v1::TASK_LOST, v1::TaskStatus::SOURCE_AGENT,
                                   "The agent restarted before the task reached its executor");
    st.set_reason(v1::TaskStatus::REASON_AGENT_RESTARTED);
    ProduceUpdate(key.first, st);
  }
}

}  // namespace corral
