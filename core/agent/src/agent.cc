// The agent's life: start (flags to state, the work dir's lock, recovery,
// the first connection), stop, and the few accessors tests and the server
// use. Each of its jobs has its own file; agent_impl.h lists them.
#include "corral/agent/agent.h"

#include "agent_impl.h"
#include "corral/zookeeper/leader.h"
#include "master_link.h"

namespace corral {

namespace {

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
  if (ec)
    return absl::InvalidArgumentError(absl::StrCat("cannot create --work_dir ", options_.work_dir, ": ", ec.message()));
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
      for (const ResourceItem& g : given->items())
        if (g.name == item.name) overridden = true;
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
    AddLimitFlags(options_.limits, &f);
    tls::AddTlsFlags(options_.tls, &f);
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
    f["recovery_timeout"] = absl::StrCat(options_.recovery_timeout, "secs");
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
        if (c == "pids")
          limits.push_back(absl::StrCat("pids (", options_.cgroups_pids_max, " per container)"));
        else
          limits.push_back(c);
      }
      cgroups_status_ = absl::StrCat("cgroups v", cgroups_->version(), " under ", options_.cgroups_root, ": ",
                                     absl::StrJoin(limits, ", "), " limits enforced");
      if (options_.cgroups_pids_max == 0)
        absl::StrAppend(&cgroups_status_, "; no pids limit (--cgroups_pids_max=0)");
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
  std::weak_ptr<EventLoop> weak = loop_;
  auto detector = zk::MasterDetector::Start(options_.master, [weak, this](const std::string& address) {
    if (auto l = weak.lock()) l->Post([this, address] { OnMasterDetected(address); });
  });
  if (!detector.ok()) {
    stopping_ = true;
    return detector.status();
  }
  detector_ = std::move(*detector);
  loop_->Post([this] {
    RetryUpdates();
    WatchMaster();
    loop_->PostAfter(Seconds(options_.disk_watch_interval), [this] { CollectSandboxes(); });
    if (disk_watcher_) loop_->PostAfter(Seconds(options_.container_disk_watch_interval), [this] { WatchDisk(); });
  });
  return absl::OkStatus();
}

void Agent::Abandon() {
  if (loop_->InLoopThread()) return;
  detector_.reset();
  loop_->Call([this] {
    stopping_ = true;
    abandoned_ = true;
    if (link_) link_->Close();
    for (auto& [key, ex] : executors_)
      if (ex.sink) ex.sink->Close();
    return 0;
  });
  loop_->Stop();
  if (writer_) writer_->Abandon();  // what is not yet written is lost, as in a crash
  if (cgroup_cleaner_) cgroup_cleaner_->Stop();
  if (sandbox_remover_) sandbox_remover_->Stop();
  if (disk_watcher_) disk_watcher_->Stop();
  work_dir_lock_.reset();  // as a crash would drop it
}

void Agent::Stop() {
  if (loop_->InLoopThread() || abandoned_) return;
  detector_.reset();
  loop_->Call([this] {
    if (stopping_) return 0;
    stopping_ = true;
    if (link_) link_->Close();
    for (auto& [key, ex] : executors_)
      if (ex.sink) ex.sink->Close();
    KillContainers();
    return 0;
  });
  loop_->Stop();
  if (writer_) writer_->Stop();                  // finishes the queued checkpoints
  if (cgroup_cleaner_) cgroup_cleaner_->Stop();  // finishes the queued removals
  if (sandbox_remover_) sandbox_remover_->Stop();
  if (disk_watcher_) disk_watcher_->Stop();
  // Remove what is left of the containers once the processes are gone.
  if (cgroups_ && cgroups_->enabled()) {
    for (auto& [key, task] : tasks_)
      if (!task.container_id.empty()) cgroups_->Release(task.container_id);
    for (auto& [key, ex] : executors_)
      if (!ex.container_id.empty()) cgroups_->Release(ex.container_id);
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

std::string Agent::id() {
  return loop_->Call([this] { return agent_id_; });
}
std::string Agent::refusal() {
  return loop_->Call([this] { return refusal_; });
}
bool Agent::registered() {
  return loop_->Call([this] { return registered_; });
}
size_t Agent::pending_updates() {
  return loop_->Call([this] { return updates_.size(); });
}

size_t Agent::running_tasks() {
  return loop_->Call([this] {
    size_t n = 0;
    for (auto& [k, t] : tasks_)
      if (!t.terminal) ++n;
    return n;
  });
}

}  // namespace corral
