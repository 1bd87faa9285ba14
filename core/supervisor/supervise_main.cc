// corral-supervise: runs a container's command as its child and records how
// it ended, so that an agent restarted while the command ran can still
// report the exit status.
//
// Usage (by the agent): corral-supervise PROGRAM ARGV0 [ARGS...], with file
// descriptor 3 open on the status file and file descriptor 4 on the start
// gate, a pipe from the agent. The command starts once a byte arrives on
// the gate: the agent sends it after recording the container, so that no
// command runs that a restarted agent could not find. If the gate ends
// first (the agent died), the command never runs and the status file says
// "not_started". Otherwise it gets one line, "wait_status N" (as from
// waitpid) or "exec_errno N", written and synced once the command has
// ended. The supervisor then exits as its command did.
//
// It shares the command's process group, so the agent's kill(-pgid) reaches
// both: SIGTERM and friends are caught (not ignored, so the command still
// gets the default action after exec) and outlived, to record the command's
// reaction; SIGKILL ends both, and the agent knows it sent it.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <initializer_list>
#include <cstring>

namespace {

void Outlive(int) {}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "corral-supervise: usage: corral-supervise PROGRAM ARGV0 [ARGS...] (with fd 3 open)\n");
    return 125;
  }
  struct stat st;
  if (::fstat(3, &st) != 0) {
    std::fprintf(stderr, "corral-supervise: file descriptor 3 (the status file) is not open\n");
    return 125;
  }
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  auto record = [](const char* line, int n) {
    if (::write(3, line, n) != n || ::fsync(3) != 0) {
      std::fprintf(stderr, "corral-supervise: cannot record the exit status: %s\n", std::strerror(errno));
    }
  };
  if (::fstat(4, &st) == 0) {
    ::fcntl(4, F_SETFD, FD_CLOEXEC);
    char go = 0;
    ssize_t got;
    do { got = ::read(4, &go, 1); } while (got < 0 && errno == EINTR);
    ::close(4);
    if (got != 1) {
      record("not_started\n", 12);
      return 125;
    }
  }
  struct sigaction sa {};
  sa.sa_handler = Outlive;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) ::sigaction(sig, &sa, nullptr);

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "corral-supervise: pipe: %s\n", std::strerror(errno));
    return 125;
  }
  pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "corral-supervise: fork: %s\n", std::strerror(errno));
    return 125;
  }
  if (child == 0) {
    ::close(pipefd[0]);
    ::execv(argv[1], argv + 2);
    int e = errno;
    if (::write(pipefd[1], &e, sizeof(e)) < 0) {}
    ::_exit(127);
  }
  ::close(pipefd[1]);
  int exec_errno = 0;
  ssize_t got;
  do { got = ::read(pipefd[0], &exec_errno, sizeof(exec_errno)); } while (got < 0 && errno == EINTR);
  if (got != sizeof(exec_errno)) exec_errno = 0;
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {}

  char line[64];
  int n = exec_errno != 0 ? std::snprintf(line, sizeof(line), "exec_errno %d\n", exec_errno)
                          : std::snprintf(line, sizeof(line), "wait_status %d\n", status);
  record(line, n);
  if (exec_errno != 0) return 127;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  int sig = WTERMSIG(status);
  ::signal(sig, SIG_DFL);
  ::kill(::getpid(), sig);
  return 128 + sig;
}
