// End-to-end launch rate: a framework on a LocalCluster with one agent runs
// real `/bin/true` tasks: accept -> TASK_RUNNING -> TASK_FINISHED, each
// update acknowledged. Reports tasks/s and launch latency percentiles.
// With checkpoint:1 the framework checkpoints, so that every launch and
// update is written down (and synced) under the agent's work dir first.
//
//   build/bin/launch_bench --benchmark_filter=Launch
#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>

#include "corral/local/local_cluster.h"
#include "corral/scheduler.h"

namespace corral {
namespace {

using Clock = std::chrono::steady_clock;

class LaunchScheduler : public Scheduler {
 public:
  explicit LaunchScheduler(int total) : total_(total) {}

  void offers(SchedulerDriver* d, const std::vector<v1::Offer>& offers) override {
    for (const auto& o : offers) {
      auto have = Resources::FromProto(o.resources());
      Milli cpus = have->Scalar("cpus"), mem = have->Scalar("mem");
      std::vector<v1::TaskInfo> tasks;
      while (launched_ < total_ && cpus >= 10 && mem >= 8000) {
        v1::TaskInfo t;
        std::string id = "t" + std::to_string(launched_++);
        t.set_name(id);
        t.mutable_task_id()->set_value(id);
        *t.mutable_agent_id() = o.agent_id();
        t.mutable_command()->set_shell(false);
        t.mutable_command()->set_value("/bin/true");
        for (auto [name, v] : {std::pair<const char*, double>{"cpus", 0.01}, {"mem", 8}}) {
          auto* r = t.add_resources();
          r->set_name(name);
          r->set_type(v1::Value::SCALAR);
          r->mutable_scalar()->set_value(v);
        }
        tasks.push_back(std::move(t));
        cpus -= 10;
        mem -= 8000;
      }
      v1::Filters f;
      f.set_refuse_seconds(0);
      auto now = Clock::now();
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& t : tasks) launched_at_[t.task_id().value()] = now;
      }
      if (tasks.empty())
        (void)d->decline({o.id()}, f);
      else
        (void)d->launch(o.id(), tasks, f);
    }
  }

  void update(SchedulerDriver*, const v1::TaskStatus& st) override {
    auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = launched_at_.find(st.task_id().value());
    if (it == launched_at_.end()) return;
    double ms = std::chrono::duration<double, std::milli>(now - it->second).count();
    if (st.state() == v1::TASK_RUNNING) running_ms_.push_back(ms);
    if (st.state() == v1::TASK_FINISHED) finished_ms_.push_back(ms);
    if (st.state() != v1::TASK_RUNNING && st.state() != v1::TASK_FINISHED) ++failed_;
    if (finished_ms_.size() + failed_ == static_cast<size_t>(total_)) cv_.notify_all();
  }

  bool Wait(double seconds) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                        [&] { return finished_ms_.size() + failed_ == static_cast<size_t>(total_); });
  }

  static double Percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  }

  int total_;
  int launched_ = 0;  // callback thread only
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Clock::time_point> launched_at_;
  std::vector<double> running_ms_, finished_ms_;
  size_t failed_ = 0;
};

void BM_Launch(benchmark::State& state) {
  const int tasks = static_cast<int>(state.range(0));
  LocalClusterOptions opts;
  opts.agents = 1;
  opts.agent.cgroups = state.range(1) != 0;
  // CORRAL_BENCH_WORK_DIR puts sandboxes on another filesystem (e.g. tmpfs).
  if (const char* dir = std::getenv("CORRAL_BENCH_WORK_DIR")) {
    char tmpl[4096];
    std::snprintf(tmpl, sizeof(tmpl), "%s/corral-bench-XXXXXX", dir);
    if (::mkdtemp(tmpl) != nullptr) opts.work_dir = tmpl;
  }
  // Advertised, not real: lets ~1000 tiny tasks be in flight on 2 cores.
  opts.agent_resources = "cpus:10;mem:8192;disk:1024;ports:[31000-32000]";
  auto cluster = LocalCluster::Start(opts);
  if (!cluster.ok() || !(*cluster)->WaitForAgents().ok()) {
    state.SkipWithError("cluster did not start");
    return;
  }
  for (auto _ : state) {
    LaunchScheduler s(tasks);
    v1::FrameworkInfo fw;
    fw.set_name("launch-bench");
    fw.set_checkpoint(state.range(2) != 0);
    SchedulerDriver d(&s, fw, (*cluster)->master_address());
    auto start = Clock::now();
    (void)d.start();
    if (!s.Wait(300)) state.SkipWithError("tasks did not finish in time");
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(secs);
    std::lock_guard<std::mutex> lock(s.mu_);
    state.counters["tasks_per_s"] = tasks / secs;
    state.counters["running_p50_ms"] = LaunchScheduler::Percentile(s.running_ms_, 0.5);
    state.counters["running_p99_ms"] = LaunchScheduler::Percentile(s.running_ms_, 0.99);
    state.counters["finished_p50_ms"] = LaunchScheduler::Percentile(s.finished_ms_, 0.5);
    state.counters["finished_p99_ms"] = LaunchScheduler::Percentile(s.finished_ms_, 0.99);
    state.counters["failed"] = static_cast<double>(s.failed_);
    (void)d.stop();
  }
}
BENCHMARK(BM_Launch)
    ->Args({5000, 1, 0})
    ->Args({5000, 0, 0})
    ->Args({5000, 0, 1})
    ->Args({1000, 0, 0})
    ->ArgNames({"tasks", "cgroups", "checkpoint"})
    ->Iterations(1)
    ->Repetitions(3)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace
}  // namespace corral

BENCHMARK_MAIN();
