// Event delivery and call cost of the C++ scheduler SDK, the baseline for
// the Python SDK's benchmark (bench/python_sdk_bench.py runs the same three
// workloads and compares):
//   Updates:  one explicit RECONCILE of N unknown tasks; the master answers
//             with N UPDATE events (no uuid, so no acknowledgements).
//   Offers:   10 agents, 1 ms allocation interval; every offer is declined
//             at once with refuse_seconds=0, so offers keep coming.
//   Calls:    SUPPRESS calls one after another (a unary call to the master
//             that changes nothing and causes no event).
//
//   build/bin/sdk_events_bench
#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "corral/common/logging.h"
#include "corral/local/local_cluster.h"
#include "corral/scheduler.h"

namespace corral {
namespace {

class CountingScheduler : public Scheduler {
 public:
  explicit CountingScheduler(double refuse_seconds) : refuse_seconds_(refuse_seconds) {}

  void subscribed(SchedulerDriver*, const v1::FrameworkID&, const v1::MasterInfo&) override {
    std::lock_guard<std::mutex> lock(mu_);
    subscribed_ = true;
    cv_.notify_all();
  }
  void offers(SchedulerDriver* d, const std::vector<v1::Offer>& offers) override {
    std::vector<v1::OfferID> ids;
    for (const auto& o : offers) ids.push_back(o.id());
    v1::Filters filters;
    filters.set_refuse_seconds(refuse_seconds_);
    (void)d->decline(ids, filters);
    std::lock_guard<std::mutex> lock(mu_);
    offers_ += static_cast<int64_t>(offers.size());
    if (offers_ >= target_) cv_.notify_all();
  }
  void update(SchedulerDriver*, const v1::TaskStatus&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++updates_;
    if (updates_ >= target_) cv_.notify_all();
  }

  // `pred` reads the counters with mu_ held.
  template <typename Pred>
  bool WaitFor(Pred pred, double seconds = 60) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::duration<double>(seconds), pred);
  }
  bool WaitSubscribed() {
    return WaitFor([this] { return subscribed_; });
  }
  // The waiting thread is woken only when `target` is reached, so that the
  // measurement is of delivery, not of thread wake-ups.
  void Expect(int64_t target) {
    std::lock_guard<std::mutex> lock(mu_);
    target_ = target;
  }
  bool WaitUpdates(int64_t target) {
    return WaitFor([&] { return updates_ >= target; });
  }
  bool WaitOffers(int64_t target) {
    return WaitFor([&] { return offers_ >= target; });
  }
  int64_t updates() {
    std::lock_guard<std::mutex> lock(mu_);
    return updates_;
  }
  int64_t offers() {
    std::lock_guard<std::mutex> lock(mu_);
    return offers_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  double refuse_seconds_;
  bool subscribed_ = false;
  int64_t updates_ = 0;
  int64_t offers_ = 0;
  int64_t target_ = 0;
};

std::unique_ptr<LocalCluster> StartCluster(int agents, double allocation_interval) {
  SetLogLevel(LogLevel::kWarning);
  LocalClusterOptions o;
  o.agents = agents;
  o.agent.cgroups = false;
  o.master.allocation_interval = allocation_interval;
  auto c = LocalCluster::Start(o);
  if (!c.ok() || !(*c)->WaitForAgents(30).ok()) return nullptr;
  return std::move(*c);
}

v1::FrameworkInfo Framework(const char* name) {
  v1::FrameworkInfo fw;
  fw.set_name(name);
  return fw;
}

void BM_UpdateEvents(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto cluster = StartCluster(1, 1.0);
  if (!cluster) return state.SkipWithError("cluster did not start");
  CountingScheduler s(3600);
  SchedulerDriver d(&s, Framework("bench-updates"), cluster->master_address());
  (void)d.start();
  if (!s.WaitSubscribed()) return state.SkipWithError("not subscribed");
  std::vector<v1::scheduler::Call::Reconcile::Task> tasks(n);
  for (int i = 0; i < n; ++i) tasks[i].mutable_task_id()->set_value("unknown-" + std::to_string(i));
  for (auto _ : state) {
    int64_t target = s.updates() + n;
    s.Expect(target);
    (void)d.reconcile(tasks);
    if (!s.WaitUpdates(target)) return state.SkipWithError("updates missing");
  }
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(n) * state.iterations(), benchmark::Counter::kIsRate);
  (void)d.stop(false);
}
BENCHMARK(BM_UpdateEvents)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_OfferEvents(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto cluster = StartCluster(10, 0.001);
  if (!cluster) return state.SkipWithError("cluster did not start");
  CountingScheduler s(0);
  SchedulerDriver d(&s, Framework("bench-offers"), cluster->master_address());
  (void)d.start();
  if (!s.WaitSubscribed()) return state.SkipWithError("not subscribed");
  for (auto _ : state) {
    int64_t target = s.offers() + n;
    s.Expect(target);
    if (!s.WaitOffers(target)) return state.SkipWithError("offers stopped");
  }
  state.counters["offers_per_s"] =
      benchmark::Counter(static_cast<double>(n) * state.iterations(), benchmark::Counter::kIsRate);
  (void)d.stop(false);
}
BENCHMARK(BM_OfferEvents)->Arg(2000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_Calls(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto cluster = StartCluster(1, 1.0);
  if (!cluster) return state.SkipWithError("cluster did not start");
  CountingScheduler s(3600);
  SchedulerDriver d(&s, Framework("bench-calls"), cluster->master_address());
  (void)d.start();
  if (!s.WaitSubscribed()) return state.SkipWithError("not subscribed");
  double seconds = 0;
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      if (!d.suppress().ok()) return state.SkipWithError("suppress failed");
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  state.counters["us_per_call"] = seconds * 1e6 / (static_cast<double>(n) * state.iterations());
  (void)d.stop(false);
}
BENCHMARK(BM_Calls)->Arg(2000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace corral

BENCHMARK_MAIN();
