// Real ZooKeeper servers for tests (Debian's `zookeeper` package, run with
// the JDK), on loopback ports of their own, and a TCP proxy that a test can
// cut to isolate one client from the ensemble.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "corral/zookeeper/zk.h"
#include "daemons.h"

namespace corral::testing {

inline bool HaveZooKeeper() {
  return std::filesystem::exists("/usr/share/java/zookeeper.jar") && std::filesystem::exists("/usr/bin/java");
}

class ZooKeeperEnsemble {
 public:
  // `servers` servers (1: standalone), data and logs under `dir`.
  ZooKeeperEnsemble(const std::string& dir, int servers) : dir_(dir), servers_(servers) { ChoosePorts(); }

  // Starts every server; true once each accepts sessions (a quorum formed).
  // A port taken between choosing it and the server binding it (another
  // test's connection, say) leaves a server that never serves: then every
  // server is stopped and all start again on fresh ports, three tries in all.
  bool Start(double seconds = 60) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (attempt > 0) {
        for (size_t i = 0; i < servers_.size(); ++i) StopServer(static_cast<int>(i));
        ChoosePorts();
      }
      for (size_t i = 0; i < servers_.size(); ++i) StartServer(static_cast<int>(i));
      bool serving = true;
      for (size_t i = 0; i < servers_.size() && serving; ++i) serving = WaitServing(static_cast<int>(i), seconds / 3);
      if (serving) return true;
    }
    return false;
  }
  void StartServer(int i) {
    servers_[i].process = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                                 "-Dzookeeper.admin.enableServer=false", "-cp", "/usr/share/java/zookeeper.jar",
                                 "org.apache.zookeeper.server.quorum.QuorumPeerMain", Config(i)},
        dir_, "zk" + std::to_string(i) + "." + std::to_string(++servers_[i].starts));
  }
  void StopServer(int i) {
    if (servers_[i].process) servers_[i].process->Signal(SIGKILL);
    if (servers_[i].process) servers_[i].process->Wait(30);
    servers_[i].process.reset();
  }
  bool WaitServing(int i, double seconds) {
    zk::Url url{"127.0.0.1:" + std::to_string(servers_[i].client), "/", ""};
    auto s = zk::Session::Connect(url, 4, seconds);
    return s.ok();
  }
  int client_port(int i) const { return servers_[i].client; }
  // "127.0.0.1:p1,127.0.0.1:p2,..."
  std::string servers() const {
    std::string out;
    for (const auto& s : servers_)
      out += (out.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(s.client);
    return out;
  }
  std::string Url(const std::string& path) const { return "zk://" + servers() + path; }
  size_t size() const { return servers_.size(); }
  ~ZooKeeperEnsemble() {
    for (size_t i = 0; i < servers_.size(); ++i) StopServer(static_cast<int>(i));
  }

 private:
  struct Server {
    int client = 0, peer = 0, election = 0, starts = 0;
    std::unique_ptr<Child> process;
  };
  std::string Config(int i) const { return dir_ + "/zk" + std::to_string(i) + ".cfg"; }
  void ChoosePorts() {
    std::vector<int> taken;
    auto fresh = [&taken] {
      int p = FreePort();
      while (std::count(taken.begin(), taken.end(), p)) p = FreePort();
      taken.push_back(p);
      return p;
    };
    for (auto& s : servers_) {
      s.client = fresh();
      s.peer = fresh();
      s.election = fresh();
    }
    for (size_t i = 0; i < servers_.size(); ++i) Configure(static_cast<int>(i));
  }
  void Configure(int i) {
    std::string data = dir_ + "/zk" + std::to_string(i);
    std::filesystem::create_directories(data);
    std::ofstream cfg(Config(i));
    // Short ticks: sessions of a few seconds, elections in well under one.
    cfg << "tickTime=250\ninitLimit=40\nsyncLimit=8\nminSessionTimeout=500\n"
        << "dataDir=" << data << "\nclientPort=" << servers_[i].client << "\nclientPortAddress=127.0.0.1\n"
        << "admin.enableServer=false\n4lw.commands.whitelist=*\n";
    if (servers_.size() > 1) {
      for (size_t j = 0; j < servers_.size(); ++j) {
        cfg << "server." << j + 1 << "=127.0.0.1:" << servers_[j].peer << ":" << servers_[j].election << "\n";
      }
      std::ofstream(data + "/myid") << i + 1 << "\n";
    }
  }
  std::string dir_;
  std::vector<Server> servers_;
};

// One standalone ZooKeeper server for a whole test binary (the frameworks'
// store tests), started on first use and stopped at exit; null when it
// cannot start (its logs are under the directory named on stderr).
inline ZooKeeperEnsemble* SharedZooKeeper() {
  struct Shared {
    std::string dir =
        (std::filesystem::temp_directory_path() / ("corral-test-zk-" + std::to_string(::getpid()))).string();
    std::unique_ptr<ZooKeeperEnsemble> ensemble;
    bool serving = false;
    Shared() {
      std::filesystem::create_directories(dir);
      ensemble = std::make_unique<ZooKeeperEnsemble>(dir, 1);
      serving = ensemble->Start();
      if (!serving) std::cerr << "ZooKeeper did not start; its logs are in " << dir << std::endl;
    }
    ~Shared() {
      ensemble.reset();  // the server stopped first
      if (serving) std::filesystem::remove_all(dir);
    }
  };
  static Shared shared;
  return shared.serving ? shared.ensemble.get() : nullptr;
}

// A session that holds a leader's node, as an elected framework instance
// does: `<root>/leader/member_NNNNNNNNNN`, the guard of its store's writes.
struct LeaderSession {
  std::unique_ptr<zk::Session> session;
  std::string guard;
};
inline absl::StatusOr<LeaderSession> ConnectAsLeader(ZooKeeperEnsemble* ensemble, const std::string& root) {
  auto url = zk::ParseUrl(ensemble->Url(root));
  if (!url.ok()) return url.status();
  auto session = zk::Session::Connect(*url, 10, 30);
  if (!session.ok()) return session.status();
  if (auto st = (*session)->CreatePath(root + "/leader", true); !st.ok()) return st;
  auto guard = (*session)->Create(root + "/leader/member_", "127.0.0.1:1", true, true, true);
  if (!guard.ok()) return guard.status();
  return LeaderSession{std::move(*session), *guard};
}

// Forwards loopback connections on its own port to `target_port`. Cut()
// stops all traffic through it, silently, until Restore().
class TcpProxy {
 public:
  explicit TcpProxy(int target_port) : target_(target_port) {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(listen_, 64);
    thread_ = std::thread([this] { Run(); });
  }
  ~TcpProxy() {
    stop_ = true;
    thread_.join();
    for (auto& [a, b] : pairs_) {
      ::close(a);
      ::close(b);
    }
    ::close(listen_);
  }
  int port() const { return port_; }
  void Cut() { cut_ = true; }
  void Restore() { cut_ = false; }

 private:
  void Run() {
    char buf[64 << 10];
    while (!stop_) {
      if (cut_) {
        // Silent, like a partition: nothing is forwarded, nothing closed,
        // new connections wait in the backlog unanswered.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      std::vector<pollfd> fds{{listen_, POLLIN, 0}};
      for (auto& [a, b] : pairs_) {
        fds.push_back({a, POLLIN, 0});
        fds.push_back({b, POLLIN, 0});
      }
      ::poll(fds.data(), fds.size(), 20);
      if (cut_) continue;
      std::vector<std::pair<int, int>> keep;
      for (size_t i = 0; i < pairs_.size(); ++i) {
        auto [a, b] = pairs_[i];
        bool ok = true;
        for (int k = 0; k < 2 && ok; ++k) {
          const pollfd& p = fds[1 + 2 * i + k];
          if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
          int from = k == 0 ? a : b, to = k == 0 ? b : a;
          ssize_t n = ::read(from, buf, sizeof(buf));
          if (n <= 0 || ::write(to, buf, n) != n) ok = false;
        }
        if (ok) {
          keep.push_back({a, b});
        } else {
          ::close(a);
          ::close(b);
        }
      }
      pairs_ = keep;
      if (fds[0].revents & POLLIN) {
        int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
        int u = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(target_);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (c >= 0 && ::connect(u, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
          pairs_.push_back({c, u});
        } else {
          if (c >= 0) ::close(c);
          ::close(u);
        }
      }
    }
  }
  int target_;
  int listen_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false}, cut_{false};
  std::vector<std::pair<int, int>> pairs_;  // proxy thread only
  std::thread thread_;
};

}  // namespace corral::testing
