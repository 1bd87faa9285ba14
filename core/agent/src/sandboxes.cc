// Sandboxes once their containers run: reading their files (the files
// API), garbage collection of finished ones, and the disk watch that
// enforces containers' disk quotas and frees space.
#include "agent_impl.h"
#include "corral/agent/sandbox_files.h"

namespace corral {

std::string Agent::SandboxUser(const std::string& framework_id, const v1::CommandInfo& command) const {
  if (command.has_user()) return command.user();
  auto fw = frameworks_.find(framework_id);
  return fw == frameworks_.end() ? std::string() : fw->second.user();
}

void Agent::RememberSandbox(const Key& key, const std::string& sandbox, const std::string& user) {
  constexpr size_t kMaxSandboxes = 10000;
  if (sandboxes_.emplace(key, KeptSandbox{sandbox, user}).second) sandbox_order_.push_back(key);
  while (sandbox_order_.size() > kMaxSandboxes) {
    sandboxes_.erase(sandbox_order_.front());
    sandbox_order_.pop_front();
  }
}

absl::StatusOr<std::pair<std::string, int64_t>> Agent::ReadSandboxFile(const std::string& framework_id,
                                                                       const std::string& task_id,
                                                                       const std::string& path, int64_t offset,
                                                                       int64_t length,
                                                                       const std::optional<std::string>& principal) {
  if (path.empty() || path[0] == '/') return absl::InvalidArgumentError("'path' must be relative to the sandbox");
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return absl::PermissionDeniedError("'path' must not contain '..'");
  }
  if (offset < 0 || length < 0) return absl::InvalidArgumentError("'offset' and 'length' must not be negative");
  KeptSandbox kept = loop_->Call([&] {
    auto it = sandboxes_.find({framework_id, task_id});
    return it == sandboxes_.end() ? KeptSandbox() : it->second;
  });
  const std::string& sandbox = kept.directory;
  if (sandbox.empty()) {
    return absl::NotFoundError(absl::StrCat("no sandbox for task '", task_id, "' on this agent"));
  }
  if (absl::Status st =
          auth::Authorize(options_.authorizer.get(), auth::Action::kAccessSandboxes, principal, kept.user);
      !st.ok()) {
    return st;
  }
  // Walked from the sandbox without following links, as the files API.
  auto file = sandbox_files::Open({sandbox}, sandbox + "/" + path);
  if (!file.ok()) {
    if (absl::IsNotFound(file.status())) {
      return absl::NotFoundError(absl::StrCat("'", path, "' does not exist in the sandbox"));
    }
    return file.status();
  }
  if (file->directory()) return absl::InvalidArgumentError(absl::StrCat("'", path, "' is a directory"));
  // One read returns at most kMaxSandboxRead: a client asking for more
  // reads again from where this one ended.
  struct stat st;
  if (::fstat(file->fd(), &st) != 0) return absl::NotFoundError(absl::StrCat("'", path, "' cannot be read"));
  int64_t size = st.st_size;
  std::string data;
  if (offset < size) {
    int64_t n = std::min<int64_t>(length > 0 ? std::min(length, kMaxSandboxRead) : kMaxSandboxRead, size - offset);
    data.resize(n);
    ssize_t got = ::pread(file->fd(), data.data(), static_cast<size_t>(n), offset);
    data.resize(got > 0 ? static_cast<size_t>(got) : 0);
  }
  return std::make_pair(data, size);
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
    for (const auto& r : resources)
      if (r.name() == "disk" && r.has_scalar()) mb += r.scalar().value();
    return static_cast<uint64_t>(mb * 1024 * 1024);
  };
  std::vector<DiskUse> uses;
  for (const auto& [key, task] : tasks_) {
    if (!task.executor_id.empty() || task.terminal || task.killing || task.pid <= 0 || task.sandbox.empty()) continue;
    if (uint64_t limit = disk_of(task.info.resources()); limit > 0)
      uses.push_back({key, false, task.sandbox, limit, 0});
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

}  // namespace corral
