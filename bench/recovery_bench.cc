// Recovery benchmarks:
//   BM_RegistryAdmitAgent, BM_RegistryAddFramework: durable registry writes
//     (SQLite, WAL, synchronous=FULL) per second, on the work dir's disk.
//   BM_AgentRecovery: an agent with 1,000 running tasks of a checkpointing
//     framework crashes (nothing killed) and a new one recovers them: time to
//     recover (read checkpoints, reattach processes: the time reported) and
//     until it has reregistered with the master.
//   BM_MasterRecovery: a real corral-master with its registry is killed
//     (SIGKILL) with 1,000 simulated agents (over the real protocol) holding
//     50,000 tasks, and restarted: time until every agent has reregistered
//     and until the first offer reaches a framework.
//
//   build/bin/recovery_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "corral/local/local_cluster.h"
#include "corral/master/registry.h"
#include "corral/scheduler.h"
#include "sim_agent.h"

namespace corral {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const char* name) {
  std::string tmpl = (fs::temp_directory_path() / (std::string(name) + "-XXXXXX")).string();
  return ::mkdtemp(tmpl.data());
}

bool WaitUntil(const std::function<bool()>& done, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One durable registry write per iteration: `write(registry, n)` for n = 0, 1, ...
template <typename Write>
void RegistryWrites(benchmark::State& state, Write write) {
  std::string dir = TempDir("corral-registry-bench");
  auto registry = OpenSqliteRegistry(dir + "/registry.db");
  if (!registry.ok()) {
    state.SkipWithError(std::string(registry.status().message()).c_str());
    return;
  }
  int64_t n = 0;
  for (auto _ : state) {
    if (!write(**registry, n++).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(n);
  registry->reset();
  fs::remove_all(dir);
}

void BM_RegistryAdmitAgent(benchmark::State& state) {
  v1::AgentInfo info;
  info.set_hostname("agent.example.com");
  info.set_port(5051);
  Resources::Parse("cpus:8;mem:16384;disk:100000;ports:[31000-32000]")->ToProto(info.mutable_resources());
  RegistryWrites(state, [&](Registry& r, int64_t n) {
    info.mutable_id()->set_value(absl::StrCat("S", n));
    return r.AdmitAgent(info, {"agent", std::string(32, 'd')});
  });
}
BENCHMARK(BM_RegistryAdmitAgent)->Unit(benchmark::kMicrosecond);

void BM_RegistryAddFramework(benchmark::State& state) {
  v1::FrameworkInfo info;
  info.set_name("framework");
  info.set_user("nobody");
  info.set_failover_timeout(3600);
  info.add_roles("dev");
  RegistryWrites(state, [&](Registry& r, int64_t n) {
    info.mutable_id()->set_value(absl::StrCat("F", n));
    return r.AddFramework(info);
  });
}
BENCHMARK(BM_RegistryAddFramework)->Unit(benchmark::kMicrosecond);

class LaunchAll : public Scheduler {
 public:
  explicit LaunchAll(int total) : total_(total) {}
  void offers(SchedulerDriver* d, const std::vector<v1::Offer>& offers) override {
    for (const auto& o : offers) {
      std::vector<v1::TaskInfo> tasks;
      while (launched_ < total_ && tasks.size() < 200) {
        v1::TaskInfo t;
        std::string id = absl::StrCat("t", launched_++);
        t.set_name(id);
        t.mutable_task_id()->set_value(id);
        *t.mutable_agent_id() = o.agent_id();
        t.mutable_command()->set_value("sleep 3600");
        Resources::Parse("cpus:0.01;mem:1")->ToProto(t.mutable_resources());
        tasks.push_back(std::move(t));
      }
      v1::Filters f;
      f.set_refuse_seconds(tasks.empty() ? 3600 : 0);
      if (tasks.empty())
        (void)d->decline({o.id()}, f);
      else
        (void)d->launch(o.id(), tasks, f);
    }
  }
  void update(SchedulerDriver*, const v1::TaskStatus& st) override {
    if (st.state() == v1::TASK_RUNNING) ++running;
  }
  std::atomic<int> running{0};
  int total_;
  int launched_ = 0;
};

void BM_AgentRecovery(benchmark::State& state) {
  const int tasks = static_cast<int>(state.range(0));
  for (auto _ : state) {
    LocalClusterOptions opts;
    opts.agents = 1;
    opts.agent_resources = "cpus:64;mem:65536;disk:10240;ports:[31000-32000]";
    opts.agent.cgroups = false;
    opts.master.allocation_interval = 0.05;
    auto cluster = LocalCluster::Start(opts);
    if (!cluster.ok() || !(*cluster)->WaitForAgents(30).ok()) {
      state.SkipWithError("cluster did not start");
      return;
    }
    LaunchAll sched(tasks);
    v1::FrameworkInfo fw;
    fw.set_name("recovery-bench");
    fw.set_checkpoint(true);
    fw.set_failover_timeout(3600);
    SchedulerDriver driver(&sched, fw, (*cluster)->master_address());
    (void)driver.start();
    if (!WaitUntil([&] { return sched.running == tasks; }, 300)) {
      state.SkipWithError("tasks did not all start");
      return;
    }
    auto t0 = std::chrono::steady_clock::now();
    if (absl::Status s = (*cluster)->RestartAgent(0); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    double restart_s = Since(t0);
    double recovered_s = (*cluster)->agent(0).recovery_seconds();
    WaitUntil([&] { return (*cluster)->agent(0).registered(); }, 60);
    double reregistered_s = Since(t0);
    size_t running = (*cluster)->agent(0).running_tasks();
    state.SetIterationTime(recovered_s);
    state.counters["tasks_recovered"] = static_cast<double>(running);
    state.counters["recover_ms"] = recovered_s * 1e3;
    state.counters["restart_ms"] = restart_s * 1e3;  // includes tearing down the crashed agent in-process
    state.counters["reregistered_ms"] = reregistered_s * 1e3;
    (void)driver.stop();
    (*cluster)->Shutdown();
  }
}
BENCHMARK(BM_AgentRecovery)->Arg(1000)->ArgName("tasks")->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

class FirstOffer : public Scheduler {
 public:
  void offers(SchedulerDriver*, const std::vector<v1::Offer>&) override {
    if (!got) at = std::chrono::steady_clock::now();
    got = true;
  }
  std::atomic<bool> got{false};
  std::chrono::steady_clock::time_point at;
};

void BM_MasterRecovery(benchmark::State& state) {
  const int agents = static_cast<int>(state.range(0));
  const int tasks_per_agent = static_cast<int>(state.range(1));
  std::string bin = fs::read_symlink("/proc/self/exe").parent_path().string();
  std::string dir = TempDir("corral-master-recovery-bench");
  for (auto _ : state) {
    int port = 0;
    {
      // Any free port, for both runs of the master.
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
      socklen_t len = sizeof(a);
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
      ::close(fd);
      port = ntohs(a.sin_port);
    }
    std::string addr = absl::StrCat("127.0.0.1:", port);
    auto start_master = [&] {
      pid_t pid = ::fork();
      if (pid == 0) {
        std::string p = absl::StrCat("--port=", port), w = "--work_dir=" + dir;
        ::execl((bin + "/corral-master").c_str(), "corral-master", p.c_str(), w.c_str(), "--log_level=warning",
                "--agent_ping_timeout=15secs", "--allocation_interval=1secs", static_cast<char*>(nullptr));
        ::_exit(127);
      }
      return pid;
    };
    // Probes retry fast, so that the time measured is the master's, not a
    // client's reconnection backoff.
    grpc::ChannelArguments fast;
    fast.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 10);
    fast.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 10);
    fast.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 20);
    fast.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // no backoff state shared with other channels
    auto master_up = [&] {
      // A new channel each time: a channel that failed waits out its
      // reconnection backoff, which is not the master's time.
      auto op = v1::internal::OperatorService::NewStub(
          grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), fast));
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
      v1::internal::ClusterState s;
      return op->GetState(&ctx, v1::internal::GetClusterState(), &s).ok();
    };
    constexpr int kChannels = 20;
    auto make_stubs = [&] {
      std::vector<std::unique_ptr<v1::internal::AgentService::Stub>> stubs;
      for (int i = 0; i < kChannels; ++i) {
        grpc::ChannelArguments args;
        args.SetInt("corral.bench.channel", i);
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // fresh connections for the restarted master
        stubs.push_back(v1::internal::AgentService::NewStub(
            grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args)));
      }
      return stubs;
    };

    // First run: the agents register (and are written to the registry).
    pid_t master = start_master();
    WaitUntil(master_up, 30);
    g_registered = 0;
    auto stubs = make_stubs();
    std::vector<std::unique_ptr<SimAgent>> sims;
    for (int i = 0; i < agents; ++i) {
      sims.push_back(std::make_unique<SimAgent>());
      sims.back()->Start(stubs[i % kChannels].get(), i);
    }
    if (!WaitUntil([&] { return g_registered == agents; }, 120)) state.SkipWithError("agents did not register");
    std::vector<std::string> ids, secrets;
    for (auto& s : sims) {
      ids.push_back(s->agent_id());
      secrets.push_back(s->agent_secret());
    }
    ::kill(master, SIGKILL);
    ::waitpid(master, nullptr, 0);
    WaitUntil(
        [&] {
          for (auto& s : sims)
            if (!s->done()) return false;
          return true;
        },
        30);
    sims.clear();
    stubs.clear();

    // Second run: the master recovers from its registry; the agents come
    // back with their tasks; a framework waits for its first offer.
    auto t0 = std::chrono::steady_clock::now();
    master = start_master();
    WaitUntil(master_up, 30);
    double up_s = Since(t0);
    g_registered = 0;
    FirstOffer sched;
    v1::FrameworkInfo fw;
    fw.set_name("recovery-bench");
    fw.mutable_id()->set_value("bench-framework");
    SchedulerDriver driver(&sched, fw, addr);
    (void)driver.start();
    stubs = make_stubs();
    for (int i = 0; i < agents; ++i) {
      sims.push_back(std::make_unique<SimAgent>());
      sims.back()->Start(stubs[i % kChannels].get(), i, ids[i], tasks_per_agent, "bench-framework", secrets[i]);
    }
    if (!WaitUntil([&] { return g_registered == agents; }, 120)) state.SkipWithError("agents did not reregister");
    double reregistered_s = Since(t0);
    WaitUntil([&] { return sched.got.load(); }, 60);
    double offer_s = std::chrono::duration<double>(sched.at - t0).count();
    state.SetIterationTime(reregistered_s);
    state.counters["agents"] = agents;
    state.counters["tasks"] = agents * tasks_per_agent;
    state.counters["master_up_ms"] = up_s * 1e3;
    state.counters["all_reregistered_ms"] = reregistered_s * 1e3;
    state.counters["first_offer_ms"] = offer_s * 1e3;
    (void)driver.stop();
    ::kill(master, SIGKILL);
    ::waitpid(master, nullptr, 0);
    WaitUntil(
        [&] {
          for (auto& s : sims)
            if (!s->done()) return false;
          return true;
        },
        30);
    sims.clear();
  }
  fs::remove_all(dir);
}
BENCHMARK(BM_MasterRecovery)
    ->Args({1000, 50})
    ->ArgNames({"agents", "tasks_per_agent"})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace corral

BENCHMARK_MAIN();
