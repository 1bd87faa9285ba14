#include "corral/common/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace corral {

namespace {

// The soft limit on open files before RaiseFileLimit, for children.
std::atomic<bool> g_nofile_raised{false};
struct rlimit g_nofile_original {};

struct ChildArgs {
  const char* program;
  char* const* argv;
  char* const* envp;
  const char* sandbox;
  int out_fd;
  int err_fd;
  int error_fd;
  int status_fd;  // -1, or the file for corral-supervise (becomes fd 3)
  int gate_fd;    // -1, or the start gate for corral-supervise (becomes fd 4)
  const int* cgroup_fds;
  size_t cgroup_count;
  bool switch_user;
  uid_t uid;
  gid_t gid;
  const gid_t* groups;
  size_t group_count;
  bool die_with_launcher;
  pid_t launcher_pid;
  bool restore_nofile;
  struct rlimit nofile;
  const char* const* mount_sources;
  const char* const* mount_targets;
  const bool* mount_read_only;
  size_t mount_count;
};

// Runs in the child, on its own stack but in the parent's memory: raw
// system calls only (no locks, no allocation, no glibc set*id broadcast).
int ChildMain(void* p) {
  const ChildArgs* a = static_cast<const ChildArgs*>(p);
  auto fail = [a](int e) {
    ::syscall(SYS_write, a->error_fd, &e, sizeof(e));
    ::syscall(SYS_exit_group, 127);
  };
  for (size_t i = 0; i < a->cgroup_count; ++i) {
    if (::syscall(SYS_write, a->cgroup_fds[i], "0", 1) != 1) fail(errno);
  }
  // Its own process group, so kill(-pid) reaches everything it starts; done
  // before exec, and the parent resumes only after exec.
  ::syscall(SYS_setpgid, 0, 0);
  if (a->mount_count > 0) {
    if (::syscall(SYS_unshare, CLONE_NEWNS) != 0) fail(errno);
    // Slave, not private: the host's later mounts still reach the container.
    if (::syscall(SYS_mount, nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) fail(errno);
    for (size_t i = 0; i < a->mount_count; ++i) {
      if (::syscall(SYS_mount, a->mount_sources[i], a->mount_targets[i], nullptr, MS_BIND | MS_REC, nullptr) != 0)
        fail(errno);
      // A bind mount takes read-only only on a remount of itself.
      if (a->mount_read_only[i] &&
          ::syscall(SYS_mount, nullptr, a->mount_targets[i], nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
        fail(errno);
    }
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  if (::syscall(SYS_chdir, a->sandbox) != 0) fail(errno);
  int devnull = static_cast<int>(::syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY));
  if (devnull >= 0) ::syscall(SYS_dup2, devnull, 0);
  ::syscall(SYS_dup2, a->out_fd, 1);
  ::syscall(SYS_dup2, a->err_fd, 2);
  if (a->status_fd >= 0) ::syscall(SYS_dup2, a->status_fd, 3);  // dup2 clears close-on-exec
  if (a->gate_fd >= 0) ::syscall(SYS_dup2, a->gate_fd, 4);
  if (a->restore_nofile) ::syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &a->nofile, nullptr);
  if (a->switch_user) {
    if (::syscall(SYS_setgroups, a->group_count, a->groups) != 0) fail(errno);
    if (::syscall(SYS_setresgid, a->gid, a->gid, a->gid) != 0) fail(errno);
    if (::syscall(SYS_setresuid, a->uid, a->uid, a->uid) != 0) fail(errno);
  }
  if (a->die_with_launcher) {
    // After the credentials change, which would clear it. A launcher that
    // died already (the child was reparented) will not signal: go now.
    ::syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (::syscall(SYS_getppid) != a->launcher_pid) ::syscall(SYS_exit_group, 127);
  }
  sigset_t none;
  sigemptyset(&none);
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, _NSIG / 8);
  // Nothing else the daemon has open (listening sockets, connections) may
  // outlive exec: a task holding the agent's port would keep a restarted
  // agent from binding it.
  ::syscall(SYS_close_range, a->gate_fd >= 0 ? 5 : a->status_fd >= 0 ? 4 : 3, ~0U, CLOSE_RANGE_CLOEXEC);
  ::execve(a->program, a->argv, a->envp);
  fail(errno);
  return 127;
}

}  // namespace

absl::StatusOr<pid_t> Launch(const LaunchSpec& spec, int* exec_error_fd) {
  if (spec.program.empty() || spec.argv.empty()) return absl::InvalidArgumentError("nothing to run");
  // Everything the child needs is prepared before fork: after fork only
  // async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  // Resolve the program through PATH from the task's environment.
  std::string program = spec.program;
  if (program.find('/') == std::string::npos) {
    auto path_it = spec.env.find("PATH");
    std::string path = path_it != spec.env.end() ? path_it->second : "/usr/local/bin:/usr/bin:/bin";
    for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      std::string candidate = absl::StrCat(dir, "/", program);
      if (::access(candidate.c_str(), X_OK) == 0) {
        program = candidate;
        break;
      }
    }
  }

  uid_t uid = 0;
  gid_t gid = 0;
  bool switch_user = false;
  std::vector<gid_t> groups;
  if (!spec.user.empty() && ::geteuid() == 0) {
    struct passwd pw, *result = nullptr;
    char buf[4096];
    if (getpwnam_r(spec.user.c_str(), &pw, buf, sizeof(buf), &result) != 0 || result == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("user '", spec.user, "' does not exist on this agent"));
    }
    uid = pw.pw_uid;
    gid = pw.pw_gid;
    switch_user = uid != 0;
    if (switch_user) {
      int n = 64;
      groups.resize(n);
      if (getgrouplist(spec.user.c_str(), gid, groups.data(), &n) < 0)
        groups.resize(0);
      else
        groups.resize(n);
      if (::chown(spec.sandbox.c_str(), uid, gid) != 0) {
        return absl::InternalError(
            absl::StrCat("cannot give sandbox to user '", spec.user, "': ", std::strerror(errno)));
      }
    }
  }

  std::string out_path = spec.output_path.empty() ? spec.sandbox + "/stdout" : spec.output_path;
  std::string err_path = spec.output_path.empty() ? spec.sandbox + "/stderr" : spec.output_path;
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0) {
    if (out_fd >= 0) ::close(out_fd);
    if (err_fd >= 0) ::close(err_fd);
    return absl::InternalError(
        absl::StrCat("cannot open stdout/stderr in sandbox ", spec.sandbox, ": ", std::strerror(errno)));
  }
  if (switch_user) {
    if (::fchown(out_fd, uid, gid) != 0 || ::fchown(err_fd, uid, gid) != 0) { /* best effort */
    }
  }
  std::vector<int> cg_fds;
  for (const std::string& p : spec.cgroup_procs) {
    int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      for (int f : cg_fds) ::close(f);
      ::close(out_fd);
      ::close(err_fd);
      return absl::InternalError(absl::StrCat("cannot open ", p, ": ", std::strerror(errno)));
    }
    cg_fds.push_back(fd);
  }
  int status_fd = -1;
  if (!spec.status_path.empty()) {
    status_fd = ::open(spec.status_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (status_fd < 0 || status_fd == 3) {
      // fd 3 would be closed by its own dup2 in the child; take another.
      int moved = status_fd < 0 ? -1 : ::fcntl(status_fd, F_DUPFD_CLOEXEC, 10);
      if (status_fd >= 0) ::close(status_fd);
      status_fd = moved;
    }
    if (status_fd < 0) {
      for (int f : cg_fds) ::close(f);
      ::close(out_fd);
      ::close(err_fd);
      return absl::InternalError(absl::StrCat("cannot create ", spec.status_path, ": ", std::strerror(errno)));
    }
  }
  // The start gate becomes fd 4 in the child: a copy above the fds the
  // child's dup2s write over.
  int gate_fd = -1;
  if (status_fd >= 0 && spec.start_gate_fd >= 0) gate_fd = ::fcntl(spec.start_gate_fd, F_DUPFD_CLOEXEC, 10);
  auto close_all = [&] {
    for (int f : cg_fds) ::close(f);
    ::close(out_fd);
    ::close(err_fd);
    if (status_fd >= 0) ::close(status_fd);
    if (gate_fd >= 0) ::close(gate_fd);
  };
  if (status_fd >= 0 && spec.start_gate_fd >= 0 && gate_fd < 0) {
    close_all();
    return absl::InternalError(absl::StrCat("cannot pass the start gate: ", std::strerror(errno)));
  }
  int errpipe[2];
  if (::pipe2(errpipe, O_CLOEXEC) != 0) {
    close_all();
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  if (status_fd >= 0 && (errpipe[1] == 3 || errpipe[1] == 4)) {
    // The child's dup2 onto fds 3 and 4 must not close its error pipe.
    int moved = ::fcntl(errpipe[1], F_DUPFD_CLOEXEC, 10);
    ::close(errpipe[1]);
    errpipe[1] = moved;
  }

  std::vector<const char*> mount_sources, mount_targets;
  std::unique_ptr<bool[]> mount_read_only(new bool[spec.mounts.size() + 1]);
  for (size_t i = 0; i < spec.mounts.size(); ++i) {
    mount_sources.push_back(spec.mounts[i].source.c_str());
    mount_targets.push_back(spec.mounts[i].target.c_str());
    mount_read_only[i] = spec.mounts[i].read_only;
  }

  // The child shares the parent's memory (CLONE_VM) and the parent waits
  // until it has exec'd or exited (CLONE_VFORK): no page tables are copied,
  // which keeps launching fast however large the agent is. The child may
  // therefore only make raw system calls on data prepared above.
  ChildArgs child{program.c_str(),
                  argv.data(),
                  envp.data(),
                  spec.sandbox.c_str(),
                  out_fd,
                  err_fd,
                  errpipe[1],
                  status_fd,
                  gate_fd,
                  cg_fds.data(),
                  cg_fds.size(),
                  switch_user,
                  uid,
                  gid,
                  groups.data(),
                  groups.size(),
                  spec.die_with_launcher,
                  ::getpid(),
                  g_nofile_raised.load(),
                  g_nofile_original,
                  mount_sources.data(),
                  mount_targets.data(),
                  mount_read_only.get(),
                  spec.mounts.size()};
  constexpr size_t kStackSize = 64 * 1024;
  void* stack = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    close_all();
    ::close(errpipe[0]);
    ::close(errpipe[1]);
    return absl::ResourceExhaustedError("cannot allocate a stack for the child");
  }
  // No signal handler of ours may run in the child while it shares memory.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer cannot follow a child that shares its memory on a
  // stack of its own; sanitizer builds copy the address space instead.
  pid_t pid = ::fork();
  if (pid == 0) ChildMain(&child);
#else
  pid_t pid = ::clone(ChildMain, static_cast<char*>(stack) + kStackSize, CLONE_VM | CLONE_VFORK | SIGCHLD, &child);
#endif
  int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(stack, kStackSize);
  if (pid < 0) {
    close_all();
    ::close(errpipe[0]);
    ::close(errpipe[1]);
    return absl::ResourceExhaustedError(absl::StrCat("clone: ", std::strerror(clone_errno)));
  }
  close_all();
  ::close(errpipe[1]);
  ::fcntl(errpipe[0], F_SETFL, O_NONBLOCK);
  *exec_error_fd = errpipe[0];
  return pid;
}

uint64_t RaiseFileLimit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur >= limit.rlim_max) return limit.rlim_cur;
  struct rlimit raised = limit;
  raised.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) return limit.rlim_cur;
  if (!g_nofile_raised.exchange(true)) g_nofile_original = limit;
  return raised.rlim_cur;
}

bool KillRecordedProcessGroup(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return false;
  uint64_t now = ProcessStartTime(pid);
  if (now != 0 && now != start_time) return false;     // the number is another process's now
  if (now == 0 && ::kill(-pid, 0) != 0) return false;  // the leader and its group are gone
  return ::kill(-pid, SIGKILL) == 0;
}

ProcessReaper& ProcessReaper::Get() {
  static ProcessReaper* reaper = new ProcessReaper();  // lives for the process
  return *reaper;
}

ProcessReaper::ProcessReaper() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  thread_ = std::thread([this] { Run(); });
  thread_.detach();
}

void ProcessReaper::Watch(pid_t pid, int exec_error_fd, std::function<void(const ExitInfo&)> on_exit) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    // No pidfd support: wait on a thread of its own.
    std::thread([pid, exec_error_fd, on_exit = std::move(on_exit)] {
      ExitInfo info;
      while (::waitpid(pid, &info.wait_status, 0) < 0 && errno == EINTR) {}
      if (exec_error_fd >= 0) {
        ::read(exec_error_fd, &info.exec_errno, sizeof(info.exec_errno));
        ::close(exec_error_fd);
      }
      on_exit(info);
    }).detach();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    watched_[pidfd] = Watched{pid, pidfd, exec_error_fd, false, std::move(on_exit)};
  }
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = pidfd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &ev);
}

bool ProcessReaper::Adopt(pid_t pid, std::function<void(const ExitInfo&)> on_exit) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    watched_[pidfd] = Watched{pid, pidfd, -1, true, std::move(on_exit)};
  }
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = pidfd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &ev);
  return true;
}

void ProcessReaper::Run() {
  pthread_setname_np(pthread_self(), "corral-reaper");
  struct epoll_event events[64];
  while (true) {
    int n = ::epoll_wait(epoll_fd_, events, 64, -1);
    for (int i = 0; i < n; ++i) {
      int pidfd = events[i].data.fd;
      Watched w;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = watched_.find(pidfd);
        if (it == watched_.end()) continue;
        w = std::move(it->second);
        watched_.erase(it);
      }
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, pidfd, nullptr);
      ExitInfo info;
      if (w.adopted) {
        // Not our child, unless this process started it in an earlier
        // agent's life (tests): then reap it, but its status is still the
        // status file's to tell.
        ::waitpid(w.pid, &info.wait_status, WNOHANG);
        info.wait_status = 0;
        info.known = false;
      } else {
        while (::waitpid(w.pid, &info.wait_status, 0) < 0 && errno == EINTR) {}
      }
      if (w.exec_error_fd >= 0) {
        if (::read(w.exec_error_fd, &info.exec_errno, sizeof(info.exec_errno)) != sizeof(info.exec_errno)) {
          info.exec_errno = 0;
        }
        ::close(w.exec_error_fd);
      }
      ::close(pidfd);
      w.on_exit(info);
    }
  }
}

uint64_t ProcessStartTime(pid_t pid) {
  if (pid <= 0) return 0;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  // The command name (field 2) may hold spaces and parentheses: fields are
  // counted from the last ')'. starttime is field 22.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  int field = 2;
  for (; *p && field < 22; ++p)
    if (*p == ' ') ++field;
  return std::strtoull(p, nullptr, 10);
}

std::string BootId() {
  int fd = ::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[64];
  ssize_t n = ::read(fd, buf, sizeof(buf));
  ::close(fd);
  std::string id(buf, n > 0 ? n : 0);
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

bool ReadSupervisedExit(const std::string& status_path, ExitInfo* exit) {
  int fd = ::open(status_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[128];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  // One complete line: "wait_status N" or "exec_errno N".
  if (buf[n - 1] != '\n') return false;
  int value = 0;
  if (std::sscanf(buf, "wait_status %d", &value) == 1) {
    *exit = ExitInfo{value, 0, true};
    return true;
  }
  if (std::sscanf(buf, "exec_errno %d", &value) == 1) {
    *exit = ExitInfo{0, value, true};
    return true;
  }
  if (std::strcmp(buf, "not_started\n") == 0) {
    *exit = ExitInfo{};
    exit->not_started = true;
    return true;
  }
  return false;
}

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("Command exited with status ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("Command terminated with signal ", strsignal(WTERMSIG(wait_status)));
  }
  return "Command terminated";
}

}  // namespace corral
