// Master memory per idle agent and per running task. A real corral-master
// process; agents simulated over the real agent protocol (one gRPC stream
// each, no thread per agent): they register, answer pings, and report every
// task they are given as TASK_RUNNING. Resident memory is read from /proc.
//
//   build/bin/master_memory_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "corral/common/ids.h"
#include "corral/common/resources.h"
#include "corral/scheduler.h"
#include "corral/v1/internal.grpc.pb.h"
#include "sim_agent.h"

namespace corral {
namespace {

class FillScheduler : public Scheduler {
 public:
  FillScheduler(int per_agent, int total) : per_agent_(per_agent), total_(total) {}
  void offers(SchedulerDriver* d, const std::vector<v1::Offer>& offers) override {
    for (const auto& o : offers) {
      std::vector<v1::TaskInfo> tasks;
      for (int i = 0; i < per_agent_ && launched_ < total_; ++i) {
        v1::TaskInfo t;
        std::string id = "task-" + std::to_string(launched_++);
        t.set_name(id);
        t.mutable_task_id()->set_value(id);
        *t.mutable_agent_id() = o.agent_id();
        t.mutable_command()->set_value("sleep 3600");
        Resources::Parse("cpus:0.1;mem:32")->ToProto(t.mutable_resources());
        tasks.push_back(std::move(t));
      }
      v1::Filters f;
      f.set_refuse_seconds(3600);
      if (tasks.empty())
        (void)d->decline({o.id()}, f);
      else
        (void)d->launch(o.id(), tasks, f);
    }
  }
  int per_agent_, total_;
  int launched_ = 0;
};

long RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kb;
      in >> kb;
      return kb;
    }
    std::getline(in, key);
  }
  return -1;
}

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
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void BM_MasterMemory(benchmark::State& state) {
  const int agents = static_cast<int>(state.range(0));
  const int tasks_per_agent = static_cast<int>(state.range(1));
  std::string bin = std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  for (auto _ : state) {
    int port = FreePort();
    std::string addr = "127.0.0.1:" + std::to_string(port);
    pid_t master = ::fork();
    if (master == 0) {
      std::string p = "--port=" + std::to_string(port);
      ::execl((bin + "/corral-master").c_str(), "corral-master", p.c_str(), "--log_level=warning",
              "--agent_ping_timeout=15secs", "--allocation_interval=1secs", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // The master is up when its operator endpoint answers.
    auto op = v1::internal::OperatorService::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
    WaitUntil(
        [&] {
          grpc::ClientContext ctx;
          v1::internal::ClusterState s;
          return op->GetState(&ctx, v1::internal::GetClusterState(), &s).ok();
        },
        30);
    long rss_empty = RssKb(master);

    g_registered = 0;
    g_running = 0;
    constexpr int kChannels = 100;  // 100 TCP connections, ~100 streams each
    std::vector<std::unique_ptr<v1::internal::AgentService::Stub>> stubs;
    for (int i = 0; i < kChannels; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("corral.bench.channel", i);  // distinct args: a connection of its own
      stubs.push_back(v1::internal::AgentService::NewStub(
          grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args)));
    }
    std::vector<std::unique_ptr<SimAgent>> sims;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < agents; ++i) {
      sims.push_back(std::make_unique<SimAgent>());
      sims.back()->Start(stubs[i % kChannels].get(), i);
    }
    if (!WaitUntil([&] { return g_registered == agents; }, 120)) state.SkipWithError("agents did not register");
    double register_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    long rss_agents = RssKb(master);

    FillScheduler sched(tasks_per_agent, agents * tasks_per_agent);
    v1::FrameworkInfo fw;
    fw.set_name("memory-bench");
    SchedulerDriver driver(&sched, fw, addr);
    (void)driver.start();
    if (!WaitUntil([&] { return g_running == agents * tasks_per_agent; }, 300)) {
      state.SkipWithError("tasks did not all start");
    }
    // Let the master take in the last updates and acknowledgements.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    long rss_tasks = RssKb(master);

    state.counters["agents"] = agents;
    state.counters["tasks"] = agents * tasks_per_agent;
    state.counters["rss_empty_MB"] = rss_empty / 1024.0;
    state.counters["rss_agents_MB"] = rss_agents / 1024.0;
    state.counters["rss_tasks_MB"] = rss_tasks / 1024.0;
    state.counters["bytes_per_agent"] = (rss_agents - rss_empty) * 1024.0 / agents;
    state.counters["bytes_per_task"] = (rss_tasks - rss_agents) * 1024.0 / (agents * tasks_per_agent);
    state.counters["register_all_s"] = register_s;
    (void)driver.stop(true);
    ::kill(master, SIGKILL);
    ::waitpid(master, nullptr, 0);
    for (auto& s : sims) (void)s;  // streams end with the master
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    sims.clear();
  }
}
BENCHMARK(BM_MasterMemory)
    ->Args({10000, 5})
    ->ArgNames({"agents", "tasks_per_agent"})
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace corral

BENCHMARK_MAIN();
