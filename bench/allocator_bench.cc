// Allocation cycle time of the hierarchical DRF allocator: every agent's
// resources are free at the start of each cycle and go to some framework.
// Frameworks each have a role of their own, so both levels of the DRF sort
// are exercised.
//
//   build/bin/allocator_bench --benchmark_filter=FullCycle
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "corral/master/allocator.h"

namespace corral {
namespace {

void BM_FullCycle(benchmark::State& state) {
  const int agents = static_cast<int>(state.range(0));
  const int frameworks = static_cast<int>(state.range(1));
  Allocator allocator(42);
  Resources agent = *Resources::Parse("cpus:24;mem:65536;disk:409600;ports:[31000-32000]");
  for (int i = 0; i < agents; ++i) allocator.AddAgent("agent-" + std::to_string(i), agent);
  for (int i = 0; i < frameworks; ++i) {
    allocator.AddFramework("framework-" + std::to_string(i), {"role-" + std::to_string(i)}, {}, true);
  }
  double now = 0;
  size_t offered = 0;
  std::vector<Allocation> last;
  for (auto _ : state) {
    state.PauseTiming();
    // Everything offered last cycle is declined without a filter.
    for (const Allocation& a : last) allocator.Recover(a.framework_id, a.role, a.agent_id, a.resources, 0, now);
    now += 1;
    state.ResumeTiming();
    last = allocator.Allocate(now);
    offered += last.size();
  }
  state.counters["offers_per_cycle"] = static_cast<double>(offered) / static_cast<double>(state.iterations());
}

BENCHMARK(BM_FullCycle)
    ->ArgsProduct({{1000, 10000}, {10, 100, 1000}})
    ->ArgNames({"agents", "frameworks"})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0);

// Event-driven allocation of one agent (what a finished task triggers).
void BM_SingleAgentCycle(benchmark::State& state) {
  const int agents = 10000, frameworks = static_cast<int>(state.range(0));
  Allocator allocator(42);
  Resources res = *Resources::Parse("cpus:24;mem:65536;disk:409600;ports:[31000-32000]");
  for (int i = 0; i < agents; ++i) allocator.AddAgent("agent-" + std::to_string(i), res);
  for (int i = 0; i < frameworks; ++i) {
    allocator.AddFramework("framework-" + std::to_string(i), {"role-" + std::to_string(i)}, {}, true);
  }
  std::vector<Allocation> all = allocator.Allocate(0);
  double now = 1;
  size_t i = 0;
  for (auto _ : state) {
    const Allocation& a = all[i++ % all.size()];
    allocator.Recover(a.framework_id, a.role, a.agent_id, a.resources, 0, now);
    auto out = allocator.Allocate(now, {a.agent_id});
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_SingleAgentCycle)->Arg(1000)->ArgName("frameworks")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace corral

BENCHMARK_MAIN();
