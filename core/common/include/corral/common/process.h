// Starting child processes and learning how they ended.
//
// A process is forked and exec'd directly (no helper process): the child
// joins the given cgroups, becomes the leader of its own process group, enters its sandbox, redirects stdout/stderr to files there,
// switches user if asked, then execs. Exits are observed through pidfds on
// one reaper thread, so several agents (and tests) in one process never reap
// each other's children.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace corral {

struct LaunchSpec {
  std::string program;            // searched in the task's PATH if it has no '/'
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string sandbox;            // working directory; stdout/stderr go here
  std::string output_path;        // if set, stdout and stderr go to this file instead
  std::string user;               // switch to this user if non-empty and root
  std::vector<std::string> cgroup_procs;  // cgroup.procs files to join
};

struct ExitInfo {
  int wait_status = 0;   // as from waitpid
  int exec_errno = 0;    // non-zero when exec itself failed
};

// Forks and execs `spec`. The child is the leader of a new process group.
absl::StatusOr<pid_t> Launch(const LaunchSpec& spec, int* exec_error_fd);

// Watches child processes for exit with pidfds on one thread.
class ProcessReaper {
 public:
  static ProcessReaper& Get();
  // `on_exit` runs on the reaper thread once the process has been reaped.
  void Watch(pid_t pid, int exec_error_fd, std::function<void(const ExitInfo&)> on_exit);

 private:
  ProcessReaper();
  void Run();
  int epoll_fd_ = -1;
  std::mutex mu_;
  struct Watched {
    pid_t pid;
    int pidfd;
    int exec_error_fd;
    std::function<void(const ExitInfo&)> on_exit;
  };
  std::map<int, Watched> watched_;  // by pidfd
  std::thread thread_;
};

// "Command exited with status 3", "Command terminated with signal Killed".
std::string DescribeExit(int wait_status);

}  // namespace corral
