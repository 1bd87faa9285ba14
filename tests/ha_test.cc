// Several masters elected through a real ZooKeeper ensemble (started here,
// on loopback): leader election and detection, standbys redirecting to the
// leader, kill -9 of the leader with an agent and a framework following it,
// and a leader cut off from ZooKeeper stepping down before another leads.
#include <sys/socket.h>

#include <set>

#include "absl/strings/match.h"

#include "corral/master/zk_registry.h"
#include "corral/zookeeper/leader.h"
#include "daemons.h"
#include "zookeeper.h"

namespace corral::testing {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One whole HTTP/1.1 exchange on loopback: "status\r\nheaders...".
std::string HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
    }
  }
  ::close(fd);
  return out;
}

// What a master at `port` says to an operator's GetState: "" when it leads
// (answers), else the error's message.
std::string GetStateAnswer(int port, v1::internal::ClusterState* state = nullptr) {
  auto stub = v1::internal::OperatorService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::internal::ClusterState s;
  grpc::Status st = stub->GetState(&ctx, v1::internal::GetClusterState(), &s);
  if (st.ok() && state) *state = s;
  return st.ok() ? "" : "error: " + st.error_message();
}

class HaTest : public ::testing::Test {
 protected:
  static constexpr const char* kPath = "/corral";
  static constexpr double kSessionTimeout = 4;

  void SetUp() override {
    ASSERT_TRUE(HaveZooKeeper()) << "these tests need ZooKeeper (Debian's zookeeper package) and a JDK";
    std::string tmpl = (std::filesystem::temp_directory_path() / "corral-ha-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    agent_.reset();
    for (auto& m : masters_) m.reset();
    zk_.reset();
    if (HasFailure()) {
      std::cerr << "logs kept in " << dir_ << std::endl;
      for (const auto& e : std::filesystem::directory_iterator(dir_)) {
        if (e.path().extension() != ".err") continue;
        std::string text = ReadAll(e.path().string());
        if (text.size() > 4000) text = text.substr(text.size() - 4000);
        std::cerr << "--- " << e.path().filename().string() << " (tail) ---\n" << text << std::endl;
      }
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void StartEnsemble(int servers) {
    zk_ = std::make_unique<ZooKeeperEnsemble>(dir_, servers);
    ASSERT_TRUE(zk_->Start()) << "the ZooKeeper ensemble did not start";
  }
  void AddMasters(int n) {
    for (int i = 0; i < n; ++i) {
      int port = FreePort();
      while (std::count(ports_.begin(), ports_.end(), port)) port = FreePort();
      ports_.push_back(port);
      masters_.emplace_back();
      starts_.push_back(0);
    }
  }
  void StartMaster(int i, const std::string& zk_url) {
    masters_[i] = std::make_unique<Child>(
        std::vector<std::string>{BinDir() + "/corral-master", "--port=" + std::to_string(ports_[i]),
                                 "--work_dir=" + dir_ + "/master" + std::to_string(i), "--zk=" + zk_url,
                                 "--zk_session_timeout=" + std::to_string(static_cast<int>(kSessionTimeout)) + "secs",
                                 "--allocation_interval=100ms", "--agent_ping_timeout=2secs",
                                 "--agent_reregister_timeout=60secs"},
        dir_, "master" + std::to_string(i) + "." + std::to_string(++starts_[i]));
  }
  // The master whose node leads in ZooKeeper, read the way Mesos clients
  // read it: the smallest json.info_ child, its MasterInfo JSON.
  std::optional<v1::MasterInfo> PublishedLeader(std::vector<std::string>* children = nullptr) {
    auto s = zk::Session::Connect({zk_->servers(), kPath, ""}, 4, 5);
    if (!s.ok()) return std::nullopt;
    auto names = (*s)->Children(kPath);
    if (!names.ok()) return std::nullopt;
    if (children) *children = *names;
    auto node = zk::LeaderNode(*names);
    if (!node) return std::nullopt;
    auto data = (*s)->Get(std::string(kPath) + "/" + *node);
    if (!data.ok()) return std::nullopt;
    auto info = zk::ParseMasterInfoJson(*data);
    if (!info.ok()) return std::nullopt;
    return *info;
  }
  // Index of the master that leads and serves, once one does.
  int WaitForLeader(double seconds, int other_than = -1) {
    auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < deadline) {
      for (size_t i = 0; i < masters_.size(); ++i) {
        if (!masters_[i] || static_cast<int>(i) == other_than) continue;
        if (GetStateAnswer(ports_[i]).empty()) return static_cast<int>(i);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling the masters, bounded by the deadline
    }
    return -1;
  }

  std::string dir_;
  std::unique_ptr<ZooKeeperEnsemble> zk_;
  std::vector<int> ports_;
  std::vector<int> starts_;
  std::vector<std::unique_ptr<Child>> masters_;
  std::unique_ptr<Child> agent_;
};

TEST_F(HaTest, ThreeMastersElectOneLeaderThatAgentsAndFrameworksFollowThroughKill9) {
  ASSERT_NO_FATAL_FAILURE(StartEnsemble(3));
  AddMasters(3);
  std::string url = zk_->Url(kPath);
  for (int i = 0; i < 3; ++i) StartMaster(i, url);
  int leader = WaitForLeader(30);
  ASSERT_GE(leader, 0) << "no master leads";
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(WaitForListening("127.0.0.1:" + std::to_string(ports_[i]), 20));

  // ZooKeeper names the same leader, as Mesos publishes it; the standbys
  // say where it is (HTTP 307 to the same path, gRPC UNAVAILABLE).
  std::vector<std::string> children;
  ASSERT_TRUE(PollUntil(
      [&] {
        auto info = PublishedLeader(&children);
        return info && info->port() == static_cast<uint32_t>(ports_[leader]) && children.size() >= 3;
      },
      20));
  int contenders = 0;
  for (const auto& c : children) contenders += absl::StartsWith(c, "json.info_");
  EXPECT_EQ(contenders, 3);
  std::string leader_addr = "127.0.0.1:" + std::to_string(ports_[leader]);
  for (int i = 0; i < 3; ++i) {
    if (i == leader) continue;
    ASSERT_TRUE(PollUntil([&] { return GetStateAnswer(ports_[i]).find(leader_addr) != std::string::npos; }, 20))
        << GetStateAnswer(ports_[i]);
    std::string res = HttpGet(ports_[i], "/master/state?jsonp=x");
    EXPECT_TRUE(absl::StartsWith(res, "HTTP/1.1 307")) << res;
    EXPECT_NE(res.find("Location: //" + leader_addr + "/master/state?jsonp=x"), std::string::npos) << res;
  }
  EXPECT_TRUE(absl::StartsWith(HttpGet(ports_[leader], "/master/state"), "HTTP/1.1 200"));

  // An agent and a framework that know only the zk:// URL.
  int agent_port = FreePort();
  agent_ = std::make_unique<Child>(
      std::vector<std::string>{BinDir() + "/corral-agent", "--master=" + url, "--port=" + std::to_string(agent_port),
                               "--work_dir=" + dir_ + "/agent", "--resources=cpus:16;mem:8192;disk:1024",
                               "--registration_backoff=100ms", "--cgroups=false"},
      dir_, "agent");
  ASSERT_TRUE(WaitForActiveAgent(leader_addr, 30));
  RecordingScheduler sched;
  v1::FrameworkInfo fw = Framework("ha");
  fw.set_failover_timeout(120);
  fw.set_checkpoint(true);
  SchedulerDriverOptions options;
  options.zk_session_timeout = kSessionTimeout;
  SchedulerDriver driver(&sched, fw, url, options);
  ASSERT_TRUE(driver.start().ok());
  ASSERT_TRUE(sched.WaitSubscribed());
  std::string framework_id = sched.Locked([&] { return sched.framework_id_; });
  v1::Offer offer;
  ASSERT_TRUE(sched.TakeOffer(&offer));
  constexpr int kTasks = 20;
  std::vector<v1::TaskInfo> tasks;
  for (int i = 0; i < kTasks; ++i) tasks.push_back(ShellTask("t" + std::to_string(i), offer.agent_id(), "sleep 600"));
  ASSERT_TRUE(driver.launch(offer.id(), tasks).ok());
  for (int i = 0; i < kTasks; ++i)
    ASSERT_EQ(sched.WaitForState("t" + std::to_string(i), v1::TASK_RUNNING).state(), v1::TASK_RUNNING);

  // kill -9 of the leader: another master leads within the session timeout
  // and a few seconds, with the agent's tasks and the same framework.
  auto killed_at = Clock::now();
  masters_[leader]->Signal(SIGKILL);
  masters_[leader]->Wait(10);
  masters_[leader].reset();
  int next = WaitForLeader(kSessionTimeout + 10, leader);
  ASSERT_GE(next, 0) << "no master took over";
  double failover = SecondsSince(killed_at);
  EXPECT_LT(failover, kSessionTimeout + 5);
  std::string next_addr = "127.0.0.1:" + std::to_string(ports_[next]);
  ASSERT_TRUE(WaitForClusterState(
      next_addr,
      [&](const v1::internal::ClusterState& st) {
        int running = 0;
        for (const auto& t : st.tasks()) running += t.state() == v1::TASK_RUNNING;
        bool fw_back = false;
        for (const auto& f : st.frameworks())
          fw_back |= f.framework_info().id().value() == framework_id && f.connected();
        return st.agents_size() == 1 && st.agents(0).active() && running == kTasks && fw_back;
      },
      30))
      << "the agent's tasks or the framework did not come back to the new leader";
  EXPECT_TRUE(sched.WaitFor([&] { return sched.subscribed_ >= 2; }));
  EXPECT_EQ(sched.Locked([&] { return sched.framework_id_; }), framework_id);
  std::cerr << "failover: new leader serving " << failover << " s after kill -9\n";

  // The new leader acts: a kill ends a task exactly once; offers flow.
  ASSERT_TRUE(PollUntil([&] { return driver.kill(tasks[0].task_id()).ok(); }, 10));
  EXPECT_EQ(sched.WaitForState("t0", v1::TASK_KILLED).state(), v1::TASK_KILLED);
  sched.Locked([&] {
    sched.offers_.clear();
    return 0;
  });
  EXPECT_TRUE(sched.TakeOffer(&offer, 20));
  EXPECT_EQ(offer.agent_id().value(), sched.Locked([&] { return sched.latest_["t1"].agent_id().value(); }));
  int killed_updates = sched.Locked([&] {
    int n = 0;
    for (const auto& u : sched.updates_) n += u.task_id().value() == "t0" && IsTerminalState(u.state());
    return n;
  });
  EXPECT_EQ(killed_updates, 1);

  // The old leader comes back as a standby pointing at the new one.
  StartMaster(leader, url);
  ASSERT_TRUE(PollUntil([&] { return GetStateAnswer(ports_[leader]).find(next_addr) != std::string::npos; }, 30))
      << GetStateAnswer(ports_[leader]);
  (void)driver.stop(false);
}

TEST_F(HaTest, LeaderCutOffFromZooKeeperStepsDownBeforeAnotherLeads) {
  ASSERT_NO_FATAL_FAILURE(StartEnsemble(1));
  // Master 0 reaches ZooKeeper only through a proxy the test can cut. The
  // proxy binds its port first, so that no master is given the same one.
  TcpProxy proxy(zk_->client_port(0));
  ports_.push_back(proxy.port());
  AddMasters(2);
  ports_.erase(ports_.begin());
  StartMaster(0, "zk://127.0.0.1:" + std::to_string(proxy.port()) + kPath);
  ASSERT_EQ(WaitForLeader(30), 0);
  StartMaster(1, zk_->Url(kPath));
  ASSERT_TRUE(PollUntil([&] { return !GetStateAnswer(ports_[1]).empty() && HttpGet(ports_[1], "/").size() > 0; }, 20));
  ASSERT_TRUE(
      PollUntil([&] { return GetStateAnswer(ports_[1]).find(std::to_string(ports_[0])) != std::string::npos; }, 20));

  auto cut_at = Clock::now();
  proxy.Cut();
  // Watch both at once: the old leader must be gone before the other serves.
  double old_gone = -1, new_serving = -1;
  auto deadline = Clock::now() + std::chrono::duration<double>(kSessionTimeout * 3 + 10);
  while (Clock::now() < deadline && (old_gone < 0 || new_serving < 0)) {
    if (old_gone < 0 && masters_[0]->Wait(0) >= 0) old_gone = SecondsSince(cut_at);
    if (new_serving < 0 && GetStateAnswer(ports_[1]).empty()) new_serving = SecondsSince(cut_at);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling both masters, bounded by the deadline
  }
  ASSERT_GE(old_gone, 0) << "the cut-off leader kept running";
  ASSERT_GE(new_serving, 0) << "no master took over";
  EXPECT_EQ(masters_[0]->Wait(0), 1) << "the cut-off leader should exit with status 1";
  EXPECT_LT(old_gone, new_serving) << "two masters led at once";
  EXPECT_LT(old_gone, kSessionTimeout);
  EXPECT_NE(masters_[0]->err().find("Leadership lost"), std::string::npos);
  std::cerr << "cut-off leader exited " << old_gone << " s after the cut; the other served after " << new_serving
            << " s\n";
}

// Launches `total` tasks from whatever offers come, batches of up to 50:
// odd ones finish at once ("true"), even ones keep running.
class Launcher : public RecordingScheduler {
 public:
  explicit Launcher(int total) : total_(total) {
    on_offers = [this](SchedulerDriver* d, const std::vector<v1::Offer>& offers) {
      for (const auto& o : offers) {
        std::vector<v1::TaskInfo> batch;
        {
          std::lock_guard<std::mutex> lock(mu_);
          while (next_ < total_ && batch.size() < 50) {
            std::string id = "t" + std::to_string(next_);
            batch.push_back(ShellTask(id, o.agent_id(), next_ % 2 ? "true" : "sleep 600", 0.05, 8));
            attempted_[id] = o.agent_id().value();
            ++next_;
          }
        }
        if (batch.empty()) {
          v1::Filters f;
          f.set_refuse_seconds(0.2);
          (void)d->decline({o.id()}, f);
        } else {
          // A launch to a master that just died fails, or lands and is lost:
          // either way the task must end in one state, found by reconciling.
          (void)d->launch(o.id(), batch);
        }
      }
    };
  }
  int launched() {
    std::lock_guard<std::mutex> lock(mu_);
    return next_;
  }
  std::map<std::string, std::string> attempted() {
    std::lock_guard<std::mutex> lock(mu_);
    return attempted_;
  }

 private:
  int total_;
  int next_ = 0;
  std::map<std::string, std::string> attempted_;  // task -> agent
};

TEST_F(HaTest, Kill9OfTheLeaderWhileLaunching500TasksLosesNoTaskAndNoUpdate) {
  ASSERT_NO_FATAL_FAILURE(StartEnsemble(1));
  AddMasters(2);
  std::string url = zk_->Url(kPath);
  for (int i = 0; i < 2; ++i) StartMaster(i, url);
  int leader = WaitForLeader(30);
  ASSERT_GE(leader, 0);
  agent_ = std::make_unique<Child>(
      std::vector<std::string>{BinDir() + "/corral-agent", "--master=" + url, "--port=" + std::to_string(FreePort()),
                               "--work_dir=" + dir_ + "/agent", "--resources=cpus:64;mem:65536;disk:1024",
                               "--registration_backoff=100ms", "--cgroups=false"},
      dir_, "agent");
  ASSERT_TRUE(WaitForActiveAgent("127.0.0.1:" + std::to_string(ports_[leader]), 30));
  constexpr int kTotal = 500;
  Launcher sched(kTotal);
  v1::FrameworkInfo fw = Framework("ha-launch");
  fw.set_failover_timeout(120);
  SchedulerDriverOptions options;
  options.zk_session_timeout = kSessionTimeout;
  options.call_timeout = 5;
  SchedulerDriver driver(&sched, fw, url, options);
  ASSERT_TRUE(driver.start().ok());
  ASSERT_TRUE(PollUntil([&] { return sched.launched() >= 150; }, 60)) << "launched " << sched.launched();
  masters_[leader]->Signal(SIGKILL);  // mid-launch
  masters_[leader]->Wait(10);
  masters_[leader].reset();
  int next = WaitForLeader(kSessionTimeout + 10, leader);
  ASSERT_GE(next, 0);
  ASSERT_TRUE(PollUntil([&] { return sched.launched() == kTotal; }, 90)) << "launched " << sched.launched();

  // Every task settles: running, or in one terminal state.
  auto attempted = sched.attempted();
  // Called with the scheduler's lock held.
  auto settled_locked = [&] {
    for (const auto& [id, agent] : attempted) {
      auto it = sched.latest_.find(id);
      if (it == sched.latest_.end()) return false;
      if (it->second.state() != v1::TASK_RUNNING && !IsTerminalState(it->second.state())) return false;
      if (std::stoi(id.substr(1)) % 2 && it->second.state() == v1::TASK_RUNNING) return false;  // "true" ends
    }
    return true;
  };
  auto settled = [&] { return sched.Locked(settled_locked); };
  // The tasks without a terminal state yet: a framework reconciles only
  // those (as with Mesos, the master answers TASK_LOST for a task whose end
  // was acknowledged, having forgotten it).
  auto open_tasks = [&] {
    std::vector<v1::scheduler::Call::Reconcile::Task> out;
    sched.Locked([&] {
      for (const auto& [id, agent] : attempted) {
        auto it = sched.latest_.find(id);
        if (it != sched.latest_.end() && IsTerminalState(it->second.state())) continue;
        v1::scheduler::Call::Reconcile::Task t;
        t.mutable_task_id()->set_value(id);
        t.mutable_agent_id()->set_value(agent);
        out.push_back(t);
      }
      return 0;
    });
    return out;
  };
  // Launches that never reached the agent are known only by asking.
  auto deadline = Clock::now() + std::chrono::seconds(90);
  while (!settled() && Clock::now() < deadline) {
    (void)driver.reconcile(open_tasks());
    sched.WaitFor(settled_locked, 3);  // answers come as updates; ask again for what is still unsettled
  }
  ASSERT_TRUE(settled()) << "tasks did not settle";
  // A last look at every running task: the master still has it running.
  auto still = open_tasks();
  size_t before = sched.Locked([&] { return sched.updates_.size(); });
  ASSERT_TRUE(driver.reconcile(still).ok());
  ASSERT_TRUE(sched.WaitFor(
      [&] {
        std::set<std::string> answered;
        for (size_t i = before; i < sched.updates_.size(); ++i) answered.insert(sched.updates_[i].task_id().value());
        return answered.size() == still.size();
      },
      30));
  sched.Locked([&] {
    for (size_t i = before; i < sched.updates_.size(); ++i)
      EXPECT_EQ(sched.updates_[i].state(), v1::TASK_RUNNING) << sched.updates_[i].task_id().value();
    return 0;
  });

  int running = 0, finished = 0, lost = 0;
  sched.Locked([&] {
    for (const auto& [id, agent] : attempted) {
      std::set<int> terminal;
      bool running_after_terminal = false;
      std::string history;
      for (const auto& u : sched.updates_) {
        if (u.task_id().value() != id) continue;
        history += " " + v1::TaskState_Name(u.state()) + "/" + v1::TaskStatus::Reason_Name(u.reason()) + "/" +
                   v1::TaskStatus::Source_Name(u.source());
        if (IsTerminalState(u.state()))
          terminal.insert(u.state());
        else if (u.state() == v1::TASK_RUNNING && !terminal.empty())
          running_after_terminal = true;
      }
      EXPECT_LE(terminal.size(), 1u) << id << " ended in more than one state:" << history;
      EXPECT_FALSE(running_after_terminal) << id << " ran again after it ended:" << history;
      v1::TaskState last = sched.latest_[id].state();
      if (last == v1::TASK_RUNNING)
        ++running;
      else if (last == v1::TASK_FINISHED)
        ++finished;
      else
        ++lost;
    }
    return 0;
  });
  EXPECT_EQ(running + finished + lost, kTotal);
  // Only launches in flight when the leader died may be lost: one batch.
  EXPECT_LE(lost, 50) << running << " running, " << finished << " finished";
  std::cerr << running << " running, " << finished << " finished, " << lost << " lost in the kill\n";
  (void)driver.stop(false);
}

TEST_F(HaTest, OneZooKeeperServerDownThenTheWholeEnsembleRestarted) {
  ASSERT_NO_FATAL_FAILURE(StartEnsemble(3));
  AddMasters(2);
  std::string url = zk_->Url(kPath);
  for (int i = 0; i < 2; ++i) StartMaster(i, url);
  int leader = WaitForLeader(30);
  ASSERT_GE(leader, 0);
  agent_ = std::make_unique<Child>(
      std::vector<std::string>{BinDir() + "/corral-agent", "--master=" + url, "--port=" + std::to_string(FreePort()),
                               "--work_dir=" + dir_ + "/agent", "--resources=cpus:8;mem:8192;disk:1024",
                               "--registration_backoff=100ms", "--cgroups=false"},
      dir_, "agent");
  ASSERT_TRUE(WaitForActiveAgent("127.0.0.1:" + std::to_string(ports_[leader]), 30));
  RecordingScheduler sched;
  v1::FrameworkInfo fw = Framework("ha-zk");
  fw.set_failover_timeout(120);
  SchedulerDriverOptions options;
  options.zk_session_timeout = kSessionTimeout;
  SchedulerDriver driver(&sched, fw, url, options);
  ASSERT_TRUE(driver.start().ok());
  v1::Offer offer;
  ASSERT_TRUE(sched.TakeOffer(&offer));
  std::vector<v1::TaskInfo> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(ShellTask("s" + std::to_string(i), offer.agent_id(), "sleep 600"));
  ASSERT_TRUE(driver.launch(offer.id(), tasks).ok());
  for (const auto& t : tasks)
    ASSERT_EQ(sched.WaitForState(t.task_id().value(), v1::TASK_RUNNING).state(), v1::TASK_RUNNING);
  std::string framework_id = sched.Locked([&] { return sched.framework_id_; });

  // One server of three down: a quorum remains; for two session timeouts
  // the leader keeps leading and nobody else does.
  zk_->StopServer(0);
  auto window = Clock::now() + std::chrono::duration<double>(2 * kSessionTimeout);
  while (Clock::now() < window) {
    ASSERT_EQ(masters_[leader]->Wait(0), -1) << "the leader exited with one ZooKeeper server down";
    ASSERT_EQ(GetStateAnswer(ports_[leader]), "");
    ASSERT_NE(GetStateAnswer(ports_[1 - leader]), "");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // observing a steady state over a fixed window
  }

  // The whole ensemble restarts: whichever master leads afterwards has the
  // agent with its tasks and the framework with its ID.
  for (int i = 1; i < 3; ++i) zk_->StopServer(i);
  for (int i = 0; i < 3; ++i) zk_->StartServer(i);
  int after = -1;
  std::string after_addr;
  ASSERT_TRUE(PollUntil(
      [&] {
        after = WaitForLeader(1);
        if (after < 0) return false;
        after_addr = "127.0.0.1:" + std::to_string(ports_[after]);
        v1::internal::ClusterState st;
        if (!GetStateAnswer(ports_[after], &st).empty()) return false;
        int running = 0;
        for (const auto& t : st.tasks()) running += t.state() == v1::TASK_RUNNING;
        bool fw_back = false;
        for (const auto& f : st.frameworks())
          fw_back |= f.framework_info().id().value() == framework_id && f.connected();
        return st.agents_size() == 1 && st.agents(0).active() && running == 5 && fw_back;
      },
      60))
      << "no master came back leading the agent, its tasks and the framework";
  for (size_t i = 0; i < masters_.size(); ++i) {
    if (static_cast<int>(i) != after && masters_[i] && masters_[i]->Wait(0) < 0) {
      EXPECT_NE(GetStateAnswer(ports_[i]), "") << "two masters lead";
    }
  }
  EXPECT_EQ(sched.Locked([&] { return sched.framework_id_; }), framework_id);
  (void)driver.stop(false);
}

TEST_F(HaTest, RegistryInZooKeeperRecoversRecordsAndRefusesADeposedLeader) {
  ASSERT_NO_FATAL_FAILURE(StartEnsemble(1));
  zk::Url url{zk_->servers(), kPath, ""};
  auto session = zk::Session::Connect(url, 4, 10);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE((*session)->CreatePath(kPath, true).ok());
  auto guard = (*session)->Create(std::string(kPath) + "/json.info_", "{}", true, true, true);
  ASSERT_TRUE(guard.ok()) << guard.status();
  std::string root = std::string(kPath) + "/registry";
  auto registry = OpenZkRegistry(session->get(), root, *guard);
  ASSERT_TRUE(registry.ok()) << registry.status();
  v1::AgentInfo agent;
  agent.mutable_id()->set_value("a/1");  // a '/' must not split the record
  agent.set_hostname("h1");
  ASSERT_TRUE((*registry)->AdmitAgent(agent, {"agent", "digest"}).ok());
  agent.set_hostname("h1-renamed");
  ASSERT_TRUE((*registry)->AdmitAgent(agent, {"agent", "digest"}).ok());  // an update, not a second record
  ASSERT_TRUE((*registry)->MarkAgentUnreachable("a/1", 1234.5).ok());
  v1::FrameworkInfo fw = Framework("f");
  fw.mutable_id()->set_value("f1");
  ASSERT_TRUE((*registry)->AddFramework(fw).ok());
  fw.mutable_id()->set_value("f2");
  ASSERT_TRUE((*registry)->AddFramework(fw).ok());
  ASSERT_TRUE((*registry)->RemoveFramework("f2").ok());
  ASSERT_TRUE((*registry)->PutOperatorState("weights", "w1").ok());
  ASSERT_TRUE((*registry)->PutOperatorState("weights", "w2").ok());

  // A new leader (another session) reads what the first wrote.
  auto other = zk::Session::Connect(url, 4, 10);
  ASSERT_TRUE(other.ok());
  auto other_guard = (*other)->Create(std::string(kPath) + "/json.info_", "{}", true, true, true);
  ASSERT_TRUE(other_guard.ok());
  auto next = OpenZkRegistry(other->get(), root, *other_guard);
  ASSERT_TRUE(next.ok());
  auto state = (*next)->Recover();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->agents.size(), 1u);
  EXPECT_EQ(state->agents[0].info.hostname(), "h1-renamed");
  EXPECT_EQ(state->agents[0].unreachable_since, 1234.5);
  ASSERT_EQ(state->frameworks.size(), 1u);
  EXPECT_EQ(state->frameworks[0].id().value(), "f1");
  EXPECT_EQ((*next)->GetOperatorState("weights").value_or(""), "w2");
  EXPECT_TRUE(absl::IsNotFound((*next)->GetOperatorState("quota").status()));

  // The first leader's node goes (its session ends): none of its writes land.
  ASSERT_TRUE((*session)->Delete(*guard).ok());
  agent.set_hostname("stale");
  absl::Status refused = (*registry)->AdmitAgent(agent, {"agent", "digest"});
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_NE(refused.message().find("no longer leads"), std::string::npos) << refused;
  EXPECT_FALSE((*registry)->RemoveAgent("a/1").ok());
  auto again = (*next)->Recover();
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->agents.size(), 1u);
  EXPECT_EQ(again->agents[0].info.hostname(), "h1-renamed");
  // Registry records sort after the json.info_ nodes, so clients that take
  // the smallest child still find a master.
  auto children = (*other)->Children(kPath);
  ASSERT_TRUE(children.ok());
  ASSERT_FALSE(children->empty());
  EXPECT_EQ(*std::min_element(children->begin(), children->end()), other_guard->substr(std::string(kPath).size() + 1));
}

}  // namespace
}  // namespace corral::testing
