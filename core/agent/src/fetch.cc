// The fetcher: corral-fetcher downloads a container's URIs into its sandbox
// before the container starts; what it says on failure becomes the
// launch's error.
#include "agent_impl.h"

namespace corral {

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
      [loop = std::weak_ptr<EventLoop>(loop_), done = std::move(done),
       stderr_path = *sandbox + "/stderr"](const ExitInfo& exit) {
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

}  // namespace corral
