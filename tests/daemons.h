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

#include <filesystem>
#include <iostream>
#include <map>

#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include "corral/v1/internal.grpc.pb.h"
#include "test_util.h"

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
    struct pollfd pfd {
      pidfd, POLLIN, 0
    };
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
  pid_t pid() const { return pid_; }
  std::string out() const { return ReadAll(out_); }
  std::string err() const { return ReadAll(err_); }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = -1;
  std::string out_, err_;
};

// Until something accepts connections at `address` ("127.0.0.1:port").
inline bool WaitForListening(const std::string& address, double seconds) {
  int port = std::stoi(address.substr(address.rfind(':') + 1));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (open) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a port, bounded by the deadline
  }
  return false;
}

// Polls the master's state at `address` until `pred` holds (true) or
// `seconds` pass (false).
inline bool WaitForClusterState(const std::string& address,
                                const std::function<bool(const v1::internal::ClusterState&)>& pred, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  // A gRPC channel that first finds the port closed backs off for seconds
  // (and its backoff is shared with later channels to the address): dial
  // only once the master listens.
  if (!WaitForListening(address, seconds)) return false;
  auto stub = v1::internal::OperatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
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

// A master and an agent as processes of their own, on loopback, with their
// work dirs under a temporary directory that is removed unless the test
// failed (then the daemons' logs are printed).
class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "corral-daemons-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    master_port_ = FreePort();
    agent_port_ = FreePort();
    while (agent_port_ == master_port_) agent_port_ = FreePort();
    master_addr_ = "127.0.0.1:" + std::to_string(master_port_);
  }
  void TearDown() override {
    agent_.reset();
    master_.reset();
    if (HasFailure()) {
      std::cerr << "daemon logs kept in " << dir_ << std::endl;
      for (const auto& [daemon, n] : starts_) {
        std::string name = n == 1 ? daemon + ".err" : daemon + "." + std::to_string(n) + ".err";
        std::string text = ReadAll(dir_ + "/" + name);
        if (text.size() > 6000) text = text.substr(text.size() - 6000);
        std::cerr << "--- " << name << " (tail) ---\n" << text << std::endl;
      }
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::vector<std::string> MasterArgs() {
    return {BinDir() + "/corral-master",        "--port=" + std::to_string(master_port_),
            "--work_dir=" + dir_ + "/master",   "--agent_ping_timeout=2secs",
            "--max_agent_ping_timeouts=5",      "--allocation_interval=100ms",
            "--agent_reregister_timeout=30secs"};
  }
  std::vector<std::string> AgentArgs(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {BinDir() + "/corral-agent",
                                     "--master=" + master_addr_,
                                     "--port=" + std::to_string(agent_port_),
                                     "--work_dir=" + dir_ + "/agent",
                                     "--resources=cpus:16;mem:8192;disk:1024",
                                     "--registration_backoff=100ms",
                                     "--cgroups=false"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  // A restarted daemon logs to a file of its own (master.2.err, ...).
  void StartMaster() { master_ = std::make_unique<Child>(MasterArgs(), dir_, LogName("master")); }
  void StartAgent(std::vector<std::string> extra = {}) {
    agent_ = std::make_unique<Child>(AgentArgs(std::move(extra)), dir_, LogName("agent"));
  }
  std::string LogName(const std::string& daemon) {
    int n = ++starts_[daemon];
    return n == 1 ? daemon : daemon + "." + std::to_string(n);
  }
  std::map<std::string, int> starts_;
  bool WaitForState(const std::function<bool(const v1::internal::ClusterState&)>& pred, double seconds) {
    return testing::WaitForClusterState(master_addr_, pred, seconds);
  }
  bool WaitForActiveAgent(double seconds) { return testing::WaitForActiveAgent(master_addr_, seconds); }

  std::string dir_;
  int master_port_ = 0, agent_port_ = 0;
  std::string master_addr_;
  std::unique_ptr<Child> master_, agent_;
};

}  // namespace corral::testing
