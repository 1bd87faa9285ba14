// Starting a container, whatever it runs (a command task, an executor, a
// fetcher, a health check): its sandbox, its environment, its cgroups and
// limits, and the checkpoint that lets a restarted agent find it again.
#include "agent_impl.h"

namespace corral {

std::string Agent::SandboxFor(const std::string& framework_id, const std::string& executor_id,
                              const std::string& container_id) {
  return absl::StrCat(options_.work_dir, "/slaves/", agent_id_, "/frameworks/", framework_id, "/executors/",
                      executor_id, "/runs/", container_id);
}

std::map<std::string, std::string> Agent::BaseEnvironment(const std::string& framework_id,
                                                          const std::string& executor_id, const std::string& sandbox,
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
  // Clients derive the agent's address from the libprocess PID; nothing
  // speaks libprocess behind it, the agent's HTTP API is at that address.
  env["MESOS_SLAVE_PID"] = absl::StrCat("slave(1)@", endpoint);
  // Over TLS where the agent serves it: the CA to trust, never a key.
  for (auto& [name, value] : tls::ClientEnvironment(options_.tls)) env[name] = value;
  // Command tasks are run by the agent itself, not by a command executor.
  env["MESOS_HTTP_COMMAND_EXECUTOR"] = "0";
  // Only an executor whose framework checkpoints can outlive the agent, so
  // only it is told how long to wait for the agent to come back.
  if (framework.checkpoint()) {
    env["MESOS_RECOVERY_TIMEOUT"] = absl::StrCat(options_.recovery_timeout, "secs");
    env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = absl::StrCat(options_.executor_subscription_backoff_max, "secs");
  }
  return env;
}

absl::StatusOr<pid_t> Agent::StartContainer(const std::string& framework_id, const std::string& executor_id,
                                            const std::string& container_id, const v1::CommandInfo& cmd,
                                            const v1::ContainerInfo& container, const v1::FrameworkInfo& framework,
                                            const Limits& limits, const std::map<std::string, std::string>& extra_env,
                                            std::string* sandbox, std::function<void(const ExitInfo&)> on_exit,
                                            std::function<void()> on_started) {
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
  if (container.volumes_size() > 0) {
    auto mounts = VolumeMounts(container, *sandbox, spec.user);
    if (!mounts.ok()) return mounts.status();
    spec.mounts = std::move(*mounts);
  }
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
  // A socket rather than a pipe, so that opening the gate of a supervisor
  // killed meanwhile fails (MSG_NOSIGNAL) instead of raising SIGPIPE.
  int gate[2] = {-1, -1};
  if (recoverable) {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gate) != 0) {
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
  CheckpointWriter::Done recorded;
  if (recoverable) {
    ::close(gate[0]);
    // The gate opens on the loop, so that the command's exit (also reported
    // through the loop) cannot overtake on_started. Should the agent stop
    // first, the last copy of `gate` closes it and the command never runs.
    auto gate_fd = std::shared_ptr<int>(new int(gate[1]), [](int* fd) {
      if (*fd >= 0) ::close(*fd);
      delete fd;
    });
    recorded = OnLoop([gate_fd, on_started](const absl::Status& s) {
      if (absl::IsCancelled(s)) return;
      char go = 1;
      (void)!::send(*gate_fd, &go, 1, MSG_NOSIGNAL);
      ::close(*gate_fd);
      *gate_fd = -1;
      if (on_started) on_started();
    });
  } else if (on_started) {
    loop_->Post(on_started);
  }
  CheckpointContainer(container_id, framework_id, executor_id, *pid, *sandbox, spec.status_path, recoverable, cgroup,
                      std::move(recorded));
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

// Mesos's volumes of a container without an image: a relative
// container_path is under the sandbox (made here), an absolute one is that
// path of the agent's own filesystem (which must exist); HOST_PATH sources
// (and the older `host_path`) are the agent's paths, SANDBOX_PATH ones (SELF)
// the container's own sandbox. The master has checked their shape.
absl::StatusOr<std::vector<BindMount>> Agent::VolumeMounts(const v1::ContainerInfo& container,
                                                           const std::string& sandbox, const std::string& user) {
  if (::geteuid() != 0) {
    return absl::FailedPreconditionError(
        "'container.volumes' need an agent running as root: they are bind mounts in the container's own mount "
        "namespace");
  }
  std::vector<BindMount> mounts;
  for (const v1::Volume& v : container.volumes()) {
    std::error_code ec;
    BindMount m;
    m.read_only = v.mode() == v1::Volume::RO;
    const std::string& inside = v.container_path();
    bool host = !v.has_source() || v.source().type() == v1::Volume::Source::HOST_PATH;
    if (host) {
      m.source = v.has_source() ? v.source().host_path().path() : v.host_path();
      if (!fs::exists(m.source, ec)) {
        return absl::FailedPreconditionError(
            absl::StrCat("volume '", inside, "': host path '", m.source, "' does not exist on this agent"));
      }
    } else {  // SANDBOX_PATH of type SELF
      m.source = absl::StrCat(sandbox, "/", v.source().sandbox_path().path());
      if (!fs::exists(m.source, ec)) {
        fs::create_directories(m.source, ec);
        // The container's user writes there, as in its sandbox.
        struct passwd pw, *found = nullptr;
        char buf[4096];
        if (!user.empty() && getpwnam_r(user.c_str(), &pw, buf, sizeof(buf), &found) == 0 && found != nullptr &&
            ::chown(m.source.c_str(), pw.pw_uid, pw.pw_gid) != 0) {
          return absl::InternalError(absl::StrCat("volume '", inside, "': cannot give ", m.source, " to user '", user,
                                                  "': ", std::strerror(errno)));
        }
      }
    }
    if (!inside.empty() && inside[0] == '/') {
      m.target = inside;
      if (!fs::exists(m.target, ec)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "volume '", inside, "': an absolute container_path must exist on the agent (tasks run on its filesystem)"));
      }
    } else {
      m.target = absl::StrCat(sandbox, "/", inside);
      // A file is mounted on a file, a directory on a directory.
      if (fs::is_directory(m.source, ec)) {
        fs::create_directories(m.target, ec);
      } else {
        fs::create_directories(fs::path(m.target).parent_path(), ec);
        std::ofstream(m.target, std::ios::app);
      }
      if (!fs::exists(m.target, ec)) {
        return absl::InternalError(absl::StrCat("volume '", inside, "': cannot make ", m.target));
      }
    }
    mounts.push_back(std::move(m));
  }
  return mounts;
}

std::string Agent::LauncherPath(const std::string& name) const {
  std::string dir = options_.launcher_dir;
  if (dir.empty()) {
    std::error_code ec;
    dir = fs::read_symlink("/proc/self/exe", ec).parent_path().string();
  }
  return dir + "/" + name;
}

Limits Agent::LimitsFor(const Resources& r) const {
  Limits l;
  l.cpus = FromMilli(r.Scalar("cpus"));
  l.mem_bytes = static_cast<uint64_t>(FromMilli(r.Scalar("mem")) * 1024 * 1024);
  l.cfs_quota = options_.cgroups_enable_cfs;
  l.pids_max = options_.cgroups_pids_max;
  return l;
}

Limits Agent::LimitsFor(const v1::TaskInfo& task) const {
  auto res = Resources::FromProto(task.resources());
  Limits l = LimitsFor(res.ok() ? *res : Resources());
  // Validated by the master: each at least the request, or infinite.
  if (auto it = task.limits().find("cpus"); it != task.limits().end()) l.cpus_limit = it->second.value();
  if (auto it = task.limits().find("mem"); it != task.limits().end()) {
    double mib = it->second.value();
    l.mem_limit_bytes = std::isinf(mib) ? Limits::kUnlimited : static_cast<uint64_t>(mib * 1024 * 1024);
  }
  return l;
}

void Agent::DestroyCgroupsLater(const std::string& container_id) {
  if (!cgroups_ || !cgroups_->enabled() || container_id.empty()) return;
  Cgroups* cg = cgroups_.get();
  cgroup_cleaner_->Post([cg, container_id] { cg->Release(container_id); });
}

}  // namespace corral
