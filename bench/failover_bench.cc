// Failover through ZooKeeper: two real corral-master processes elected
// through a standalone ZooKeeper server (Debian's zookeeper, on loopback);
// 1,000 simulated agents (over the real protocol) and a framework (the C++
// SDK with a zk:// URL) on the leader. The leader is killed with SIGKILL:
//   new_leader_ms       kill -9 to the other master serving (after the
//                       dead leader's session expires)
//   first_offer_ms      kill -9 to the framework's first offer from it
//   all_reregistered_ms kill -9 to every agent reregistered with 50 tasks
//   offer_after_expiry_ms  first_offer_ms less the session timeout
// The simulated agents share one leader detector (polling the masters);
// real agents each watch the leader's node in ZooKeeper.
//
//   build/bin/failover_bench
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "corral/scheduler.h"
#include "corral/zookeeper/zk.h"
#include "sim_agent.h"

namespace corral {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

constexpr double kSessionTimeout = 4;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool WaitUntil(const std::function<bool()>& done, double seconds) {
  auto deadline = SteadyClock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

double Since(SteadyClock::time_point t0) { return std::chrono::duration<double>(SteadyClock::now() - t0).count(); }

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

// The master's ID when it serves (leads), else "".
std::string Serving(const std::string& addr) {
  grpc::ChannelArguments fast;
  fast.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 10);
  fast.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 10);
  fast.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 20);
  fast.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto op =
      v1::internal::OperatorService::NewStub(grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), fast));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  v1::internal::ClusterState s;
  return op->GetState(&ctx, v1::internal::GetClusterState(), &s).ok() ? s.master_info().id() : "";
}

class OfferFrom : public Scheduler {
 public:
  void subscribed(SchedulerDriver*, const v1::FrameworkID& id, const v1::MasterInfo&) override {
    std::lock_guard<std::mutex> lock(mu);
    framework_id = id.value();
  }
  void offers(SchedulerDriver* d, const std::vector<v1::Offer>& offers) override {
    std::vector<v1::OfferID> ids;
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& o : offers) {
      ids.push_back(o.id());
      if (!master.empty() && absl::StartsWith(o.id().value(), master) && !got) {
        at = SteadyClock::now();
        got = true;
      }
    }
    v1::Filters f;
    f.set_refuse_seconds(0.5);
    (void)d->decline(ids, f);
  }
  std::mutex mu;
  std::string framework_id;
  std::string master;  // count offers from this master only
  bool got = false;
  SteadyClock::time_point at;
};

void BM_MasterFailover(benchmark::State& state) {
  const int agents = static_cast<int>(state.range(0));
  const int tasks_per_agent = static_cast<int>(state.range(1));
  std::string bin = fs::read_symlink("/proc/self/exe").parent_path().string();
  std::string tmpl = (fs::temp_directory_path() / "corral-failover-bench-XXXXXX").string();
  std::string dir = ::mkdtemp(tmpl.data());
  for (auto _ : state) {
    int zk_port = FreePort();
    fs::create_directories(dir + "/zk");
    std::ofstream(dir + "/zk.cfg") << "tickTime=250\nminSessionTimeout=500\ndataDir=" << dir
                                   << "/zk\nclientPort=" << zk_port
                                   << "\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n";
    pid_t zk = Spawn({"/usr/bin/java", "-Xmx512m", "-cp", "/usr/share/java/zookeeper.jar",
                      "org.apache.zookeeper.server.quorum.QuorumPeerMain", dir + "/zk.cfg"},
                     dir + "/zk.log");
    std::string servers = absl::StrCat("127.0.0.1:", zk_port);
    if (!zk::Session::Connect({servers, "/", ""}, 4, 60).ok()) {
      state.SkipWithError("ZooKeeper did not start (is Debian's zookeeper package installed?)");
      break;
    }
    std::string url = absl::StrCat("zk://", servers, "/corral");
    int ports[2] = {FreePort(), FreePort()};
    pid_t masters[2];
    for (int i = 0; i < 2; ++i) {
      masters[i] =
          Spawn({bin + "/corral-master", absl::StrCat("--port=", ports[i]), absl::StrCat("--work_dir=", dir, "/m", i),
                 "--zk=" + url, absl::StrCat("--zk_session_timeout=", kSessionTimeout, "secs"), "--log_level=warning",
                 "--agent_ping_timeout=15secs", "--allocation_interval=1secs", "--agent_reregister_timeout=10mins"},
                absl::StrCat(dir, "/m", i, ".log"));
    }
    int leader = -1;
    WaitUntil(
        [&] {
          for (int i = 0; i < 2; ++i)
            if (!Serving(absl::StrCat("127.0.0.1:", ports[i])).empty()) leader = i;
          return leader >= 0;
        },
        60);
    if (leader < 0) {
      state.SkipWithError("no master was elected");
      break;
    }
    int other = 1 - leader;
    auto stubs_for = [&](int i) {
      std::vector<std::unique_ptr<v1::internal::AgentService::Stub>> stubs;
      for (int c = 0; c < 20; ++c) {
        grpc::ChannelArguments args;
        args.SetInt("corral.bench.channel", c);
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        stubs.push_back(v1::internal::AgentService::NewStub(
            grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", ports[i]), grpc::InsecureChannelCredentials(), args)));
      }
      return stubs;
    };
    g_registered = 0;
    auto stubs = stubs_for(leader);
    std::vector<std::unique_ptr<SimAgent>> sims;
    for (int i = 0; i < agents; ++i) {
      sims.push_back(std::make_unique<SimAgent>());
      sims.back()->Start(stubs[i % stubs.size()].get(), i);
    }
    if (!WaitUntil([&] { return g_registered == agents; }, 120)) state.SkipWithError("agents did not register");
    std::vector<std::string> ids, secrets;
    for (auto& s : sims) {
      ids.push_back(s->agent_id());
      secrets.push_back(s->agent_secret());
    }
    OfferFrom sched;
    v1::FrameworkInfo fw;
    fw.set_name("failover-bench");
    fw.set_failover_timeout(3600);
    SchedulerDriverOptions options;
    options.zk_session_timeout = kSessionTimeout;
    SchedulerDriver driver(&sched, fw, url, options);
    (void)driver.start();
    WaitUntil(
        [&] {
          std::lock_guard<std::mutex> lock(sched.mu);
          return !sched.framework_id.empty();
        },
        60);
    std::string framework_id;
    {
      std::lock_guard<std::mutex> lock(sched.mu);
      framework_id = sched.framework_id;
    }

    auto t0 = SteadyClock::now();
    ::kill(masters[leader], SIGKILL);
    ::waitpid(masters[leader], nullptr, 0);
    std::string next_id;
    WaitUntil([&] { return !(next_id = Serving(absl::StrCat("127.0.0.1:", ports[other]))).empty(); }, 60);
    double new_leader_s = Since(t0);
    {
      std::lock_guard<std::mutex> lock(sched.mu);
      sched.master = next_id;
    }
    // The agents' streams to the dead leader are gone; they reregister with
    // the new one, each with its tasks.
    WaitUntil(
        [&] {
          for (auto& s : sims)
            if (!s->done()) return false;
          return true;
        },
        30);
    sims.clear();
    g_registered = 0;
    stubs = stubs_for(other);
    for (int i = 0; i < agents; ++i) {
      sims.push_back(std::make_unique<SimAgent>());
      sims.back()->Start(stubs[i % stubs.size()].get(), i, ids[i], tasks_per_agent, framework_id, secrets[i]);
    }
    if (!WaitUntil([&] { return g_registered == agents; }, 120)) state.SkipWithError("agents did not reregister");
    double reregistered_s = Since(t0);
    WaitUntil(
        [&] {
          std::lock_guard<std::mutex> lock(sched.mu);
          return sched.got;
        },
        60);
    double offer_s;
    {
      std::lock_guard<std::mutex> lock(sched.mu);
      offer_s = sched.got ? std::chrono::duration<double>(sched.at - t0).count() : -1;
    }
    state.SetIterationTime(offer_s);
    state.counters["agents"] = agents;
    state.counters["tasks"] = agents * tasks_per_agent;
    state.counters["session_timeout_ms"] = kSessionTimeout * 1e3;
    state.counters["new_leader_ms"] = new_leader_s * 1e3;
    state.counters["first_offer_ms"] = offer_s * 1e3;
    state.counters["offer_after_expiry_ms"] = (offer_s - kSessionTimeout) * 1e3;
    state.counters["all_reregistered_ms"] = reregistered_s * 1e3;
    (void)driver.stop();
    ::kill(masters[other], SIGKILL);
    ::waitpid(masters[other], nullptr, 0);
    WaitUntil(
        [&] {
          for (auto& s : sims)
            if (!s->done()) return false;
          return true;
        },
        30);
    sims.clear();
    ::kill(zk, SIGKILL);
    ::waitpid(zk, nullptr, 0);
  }
  fs::remove_all(dir);
}
BENCHMARK(BM_MasterFailover)
    ->Args({1000, 50})
    ->ArgNames({"agents", "tasks_per_agent"})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace corral

BENCHMARK_MAIN();
