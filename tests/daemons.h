// Helpers for tests that run the daemons as separate processes.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "corral/v1/internal.grpc.pb.h"

namespace corral::testing {

inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process with stdout and stderr in files.
class Child {
 public:
  Child(std::vector<std::string> argv, const std::string& dir, const std::string& name) {
    out_ = dir + "/" + name + ".out";
    err_ = dir + "/" + name + ".err";
    pid_ = ::fork();
    if (pid_ == 0) {
      int o = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, 1);
      ::dup2(e, 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGTERM);
      if (Wait(10) < 0) {
        ::kill(pid_, SIGKILL);
        Wait(10);
      }
    }
  }
  // Exit status, or -1 if still running after `seconds`. Waits on a pidfd,
  // which becomes readable when the process exits.
  int Wait(double seconds) {
    if (exited_) return status_;
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd < 0) return -1;
    struct pollfd pfd {pidfd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(seconds * 1000));
    ::close(pidfd);
    if (ready <= 0) return -1;
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return -1;
    exited_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  std::string out() const { return ReadAll(out_); }
  std::string err() const { return ReadAll(err_); }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = -1;
  std::string out_, err_;
};

// Polls the master's state at `address` until `pred` holds (true) or
// `seconds` pass (false).
inline bool WaitForClusterState(const std::string& address,
                                const std::function<bool(const v1::internal::ClusterState&)>& pred, double seconds) {
  auto stub = v1::internal::OperatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    v1::internal::ClusterState state;
    if (stub->GetState(&ctx, v1::internal::GetClusterState(), &state).ok() && pred(state)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the master, bounded by the deadline
  }
  return false;
}

// Until the master lists an active agent.
inline bool WaitForActiveAgent(const std::string& address, double seconds) {
  return WaitForClusterState(
      address, [](const v1::internal::ClusterState& st) { return st.agents_size() > 0 && st.agents(0).active(); },
      seconds);
}

}  // namespace corral::testing
