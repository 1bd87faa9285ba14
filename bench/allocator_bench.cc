// Allocation cycle time of the hierarchical DRF allocator: every agent's
// resources are free at the start of each cycle and go to some framework.
// Frameworks each have a role of their own, so both levels of the DRF sort
// are exercised.
//
//   build/bin/allocator_bench --benchmark_filter=FullCycle
//   build/bin/allocator_bench --benchmark_filter=OfferConstraints
#include <benchmark/benchmark.h>
#include <google/protobuf/util/json_util.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "corral/master/allocator.h"
#include "corral/master/offer_constraints.h"

namespace corral {
namespace {

// Times full cycles; everything offered in one is declined, without a
// filter, before the next.
void RunFullCycles(benchmark::State& state, Allocator& allocator) {
  double now = 0;
  size_t offered = 0;
  std::vector<Allocation> last;
  for (auto _ : state) {
    state.PauseTiming();
    for (const Allocation& a : last) allocator.Recover(a.framework_id, a.role, a.agent_id, a.resources, 0, now);
    now += 1;
    state.ResumeTiming();
    last = allocator.Allocate(now);
    offered += last.size();
  }
  state.counters["offers_per_cycle"] = static_cast<double>(offered) / static_cast<double>(state.iterations());
}

void BM_FullCycle(benchmark::State& state) {
  const int agents = static_cast<int>(state.range(0));
  const int frameworks = static_cast<int>(state.range(1));
  Allocator allocator(42);
  Resources agent = *Resources::Parse("cpus:24;mem:65536;disk:409600;ports:[31000-32000]");
  for (int i = 0; i < agents; ++i) allocator.AddAgent("agent-" + std::to_string(i), agent);
  for (int i = 0; i < frameworks; ++i) {
    allocator.AddFramework("framework-" + std::to_string(i), {"role-" + std::to_string(i)}, {}, true);
  }
  RunFullCycles(state, allocator);
}

BENCHMARK(BM_FullCycle)
    ->ArgsProduct({{1000, 10000}, {10, 100, 1000}})
    ->ArgNames({"agents", "frameworks"})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0);

// A full cycle where every framework has offer constraints, judged as the
// master judges them (the agent's info looked up by ID): each framework's
// role takes only agents whose "rack" attribute matches r[0-4] (half of
// them), so every framework is asked about every agent it is not given.
void BM_FullCycleWithOfferConstraints(benchmark::State& state) {
  const int agents = static_cast<int>(state.range(0));
  const int frameworks = static_cast<int>(state.range(1));
  const bool constrained = state.range(2) != 0;
  Allocator allocator(42);
  Resources agent = *Resources::Parse("cpus:24;mem:65536;disk:409600;ports:[31000-32000]");
  std::map<std::string, v1::AgentInfo> infos;
  for (int i = 0; i < agents; ++i) {
    std::string id = "agent-" + std::to_string(i);
    v1::AgentInfo& info = infos[id];
    info.set_hostname(id);
    v1::Attribute* rack = info.add_attributes();
    rack->set_name("rack");
    rack->set_type(v1::Value::TEXT);
    rack->mutable_text()->set_value("r" + std::to_string(i % 10));
    allocator.AddAgent(id, agent);
  }
  for (int i = 0; i < frameworks; ++i) {
    std::string role = "role-" + std::to_string(i), id = "framework-" + std::to_string(i);
    allocator.AddFramework(id, {role}, {}, true);
    if (!constrained) continue;
    v1::scheduler::OfferConstraints proto;
    (void)google::protobuf::util::JsonStringToMessage(
        R"({"role_constraints": {")" + role +
            R"(": {"groups": [{"attribute_constraints": [{"selector": {"attribute_name": "rack"},
              "predicate": {"text_matches": {"regex": "r[0-4]"}}}]}]}}})",
        &proto);
    std::shared_ptr<const OfferConstraints> c = *OfferConstraints::Compile(proto, {role});
    allocator.SetAgentAdmission(id, [&infos, c](const std::string& agent_id, const std::string& r) {
      auto it = infos.find(agent_id);
      return it == infos.end() || c->Admits(r, it->second);
    });
  }
  RunFullCycles(state, allocator);
}

BENCHMARK(BM_FullCycleWithOfferConstraints)
    ->ArgsProduct({{10000}, {100}, {0, 1}})
    ->ArgNames({"agents", "frameworks", "constrained"})
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
