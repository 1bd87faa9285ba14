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

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"

namespace corral {

// A bind mount made in the child's own mount namespace: `source` appears at
// `target` (both absolute, both existing), read-only if asked.
struct BindMount {
  std::string source;
  std::string target;
  bool read_only = false;
};

struct LaunchSpec {
  std::string program;  // searched in the task's PATH if it has no '/'
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string sandbox;                    // working directory; stdout/stderr go here
  std::string output_path;                // if set, stdout and stderr go to this file instead
  std::string user;                       // switch to this user if non-empty and root
  std::vector<std::string> cgroup_procs;  // cgroup.procs files to join
  // If set, this file is created (as the agent's user) and handed to the
  // child as file descriptor 3: corral-supervise records its command's exit
  // status there, where an agent restarted meanwhile can read it.
  std::string status_path;
  // With status_path: the read end of a pipe, handed to the child as file
  // descriptor 4. corral-supervise starts its command only once a byte
  // arrives there, so the launcher can record the container first; if the
  // launcher dies before that, the pipe ends and the command never runs.
  int start_gate_fd = -1;
  // The child is SIGKILLed when the thread that launched it exits (a
  // crashed agent): for processes nothing could recover anyway.
  bool die_with_launcher = false;
  // If any, the child gets a mount namespace of its own (which needs root),
  // where mounts of the host still appear but its own do not leak out, and
  // these bind mounts are made there before it enters its sandbox.
  std::vector<BindMount> mounts;
};

struct ExitInfo {
  int wait_status = 0;  // as from waitpid
  int exec_errno = 0;   // non-zero when exec itself failed
  // False when the exit status is unknown: the process was adopted (not our
  // child) and left no status file.
  bool known = true;
  // corral-supervise never started the command: its launcher went away
  // before saying it had recorded the container.
  bool not_started = false;
};

// Forks and execs `spec`. The child is the leader of a new process group.
absl::StatusOr<pid_t> Launch(const LaunchSpec& spec, int* exec_error_fd);

// Raises this process's soft limit on open files to its hard limit (a
// daemon's connections and containers need many); processes it launches
// get the original soft limit back. Returns the new soft limit.
uint64_t RaiseFileLimit();

// SIGKILLs the process group led by `pid`, recorded when that process had
// `start_time` (ProcessStartTime): if the leader still lives, or if it has
// died and left its group behind (no process has its number since, so the
// group can only be the one it led). Nothing is done when the number
// belongs to a later process. Returns whether a group was signalled.
bool KillRecordedProcessGroup(pid_t pid, uint64_t start_time);

// Watches child processes for exit with pidfds on one thread.
class ProcessReaper {
 public:
  static ProcessReaper& Get();
  // `on_exit` runs on the reaper thread once the process has been reaped.
  void Watch(pid_t pid, int exec_error_fd, std::function<void(const ExitInfo&)> on_exit);
  // Watches a process that is not our child (started by an earlier run of
  // the agent). Its exit status cannot be waited for: `on_exit` gets
  // known=false. Returns false if the process is already gone.
  bool Adopt(pid_t pid, std::function<void(const ExitInfo&)> on_exit);

 private:
  ProcessReaper();
  void Run();
  int epoll_fd_ = -1;
  std::mutex mu_;
  struct Watched {
    pid_t pid;
    int pidfd;
    int exec_error_fd;
    bool adopted;
    std::function<void(const ExitInfo&)> on_exit;
  };
  std::map<int, Watched> watched_ ABSL_GUARDED_BY(mu_);  // by pidfd
  std::thread thread_;
};

// The process's start time (clock ticks after boot, /proc/<pid>/stat), so
// that a recorded pid is not mistaken for a later process given the same
// number. 0 if there is no such process.
uint64_t ProcessStartTime(pid_t pid);

// This boot's ID (/proc/sys/kernel/random/boot_id): processes recorded
// under another boot are gone.
std::string BootId();

// Reads what corral-supervise recorded in `status_path`; false when nothing
// complete was recorded (the supervisor was killed, or is still running).
bool ReadSupervisedExit(const std::string& status_path, ExitInfo* exit);

// "Command exited with status 3", "Command terminated with signal Killed".
std::string DescribeExit(int wait_status);

}  // namespace corral
