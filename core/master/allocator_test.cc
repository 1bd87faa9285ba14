#include "corral/master/allocator.h"

#include <map>

#include <gtest/gtest.h>

namespace corral {
namespace {

Resources R(const std::string& text) { return *Resources::Parse(text); }

// Sums what each framework was given.
std::map<std::string, Quantities> Totals(const std::vector<Allocation>& allocs) {
  std::map<std::string, Quantities> out;
  for (const auto& a : allocs) out[a.framework_id] += Quantities::Of(a.resources);
  return out;
}

TEST(AllocatorTest, OffersEveryAgentToSomeone) {
  Allocator a(1);
  for (int i = 0; i < 4; ++i) a.AddAgent("a" + std::to_string(i), R("cpus:4;mem:1024"));
  a.AddFramework("f1", {"*"}, {}, true);
  auto allocs = a.Allocate(0);
  ASSERT_EQ(allocs.size(), 4u);
  for (const auto& al : allocs) {
    EXPECT_EQ(al.framework_id, "f1");
    EXPECT_EQ(al.role, "*");
    EXPECT_EQ(al.resources, R("cpus:4;mem:1024"));
  }
  EXPECT_TRUE(a.Allocate(1).empty()) << "everything is already allocated";
}

TEST(AllocatorTest, DrfSharesConvergeBetweenFrameworks) {
  Allocator a(7);
  for (int i = 0; i < 100; ++i) a.AddAgent("a" + std::to_string(i), R("cpus:1;mem:100"));
  a.AddFramework("f1", {"r1"}, {}, true);
  a.AddFramework("f2", {"r2"}, {}, true);
  auto totals = Totals(a.Allocate(0));
  // Each cycle gives an agent to the role with the lower share: 50/50.
  EXPECT_EQ(totals["f1"].Get("cpus"), 50000);
  EXPECT_EQ(totals["f2"].Get("cpus"), 50000);
}

TEST(AllocatorTest, DominantShareDecidesNotRawAmounts) {
  Allocator a(3);
  a.AddAgent("big", R("cpus:10;mem:1000"));
  a.AddFramework("f1", {"r1"}, {}, true);
  a.AddFramework("f2", {"r2"}, {}, true);
  // f1 already holds 10% of mem (dominant), f2 20% of cpus (dominant).
  a.AddUsed("f1", "r1", "big", R("cpus:1;mem:100"));
  a.AddUsed("f2", "r2", "big", R("cpus:2;mem:10"));
  auto allocs = a.Allocate(0);
  ASSERT_EQ(allocs.size(), 1u);
  EXPECT_EQ(allocs[0].framework_id, "f1") << "lower dominant share goes first";
}

TEST(AllocatorTest, WeightsSkewTheSplit) {
  Allocator a(11);
  for (int i = 0; i < 90; ++i) a.AddAgent("a" + std::to_string(i), R("cpus:1;mem:100"));
  a.SetWeight("heavy", 2);
  a.AddFramework("f1", {"heavy"}, {}, true);
  a.AddFramework("f2", {"light"}, {}, true);
  auto totals = Totals(a.Allocate(0));
  EXPECT_EQ(totals["f1"].Get("cpus"), 60000);
  EXPECT_EQ(totals["f2"].Get("cpus"), 30000);
}

TEST(AllocatorTest, QuotaGuaranteeIsServedFirstAndHeldBack) {
  Allocator a(5);
  for (int i = 0; i < 10; ++i) a.AddAgent("a" + std::to_string(i), R("cpus:1;mem:100"));
  RoleQuota q;
  q.guarantee = *Quantities::Parse("cpus:6;mem:600");
  a.SetQuota("prod", q);
  a.AddFramework("greedy", {"dev"}, {}, true);
  auto totals = Totals(a.Allocate(0));
  // Nobody in "prod" yet: its guarantee is held back from "dev".
  EXPECT_EQ(totals["greedy"].Get("cpus"), 4000);
  a.AddFramework("p", {"prod"}, {}, true);
  totals = Totals(a.Allocate(1));
  EXPECT_EQ(totals["p"].Get("cpus"), 6000);
}

TEST(AllocatorTest, QuotaLimitIsNeverExceeded) {
  Allocator a(9);
  for (int i = 0; i < 10; ++i) a.AddAgent("a" + std::to_string(i), R("cpus:2;mem:100"));
  RoleQuota q;
  q.limit = *Quantities::Parse("cpus:5");
  a.SetQuota("capped", q);
  a.AddFramework("f", {"capped"}, {}, true);
  auto totals = Totals(a.Allocate(0));
  EXPECT_EQ(totals["f"].Get("cpus"), 5000);
  EXPECT_EQ(a.RoleAllocated("capped").Get("cpus"), 5000);
  EXPECT_TRUE(Totals(a.Allocate(1))["f"].Get("cpus") == 0);
}

TEST(AllocatorTest, QuotaLimitCoversReservedAndUnreservedAlike) {
  Allocator a(9);
  a.AddAgent("a1", R("cpus:4;cpus(capped):4;mem:100"));
  RoleQuota q;
  q.limit = *Quantities::Parse("cpus:3");
  a.SetQuota("capped", q);
  a.AddFramework("f", {"capped"}, {}, true);
  auto totals = Totals(a.Allocate(0));
  EXPECT_EQ(totals["f"].Get("cpus"), 3000);
}

TEST(AllocatorTest, FiltersHoldUntilTheyExpire) {
  Allocator a(2);
  a.AddAgent("a1", R("cpus:2;mem:100"));
  a.AddFramework("f", {"*"}, {}, true);
  auto allocs = a.Allocate(0);
  ASSERT_EQ(allocs.size(), 1u);
  a.Recover("f", "*", "a1", allocs[0].resources, /*refuse_seconds=*/5, /*now=*/0);
  EXPECT_TRUE(a.Allocate(1).empty()) << "declined resources are filtered";
  EXPECT_EQ(a.FilterCount("f"), 1u);
  EXPECT_EQ(a.Allocate(6).size(), 1u) << "filter expired";
}

TEST(AllocatorTest, FilteredFrameworkDoesNotBlockOthers) {
  Allocator a(2);
  a.AddAgent("a1", R("cpus:2;mem:100"));
  a.AddFramework("f1", {"*"}, {}, true);
  auto allocs = a.Allocate(0);
  a.Recover("f1", "*", "a1", allocs[0].resources, 100, 0);
  a.AddFramework("f2", {"*"}, {}, true);
  allocs = a.Allocate(1);
  ASSERT_EQ(allocs.size(), 1u);
  EXPECT_EQ(allocs[0].framework_id, "f2");
}

TEST(AllocatorTest, ReviveClearsFiltersAndSuppressStopsOffers) {
  Allocator a(2);
  a.AddAgent("a1", R("cpus:2;mem:100"));
  a.AddFramework("f", {"*"}, {}, true);
  auto allocs = a.Allocate(0);
  a.Recover("f", "*", "a1", allocs[0].resources, 1000, 0);
  a.Revive("f", {});
  EXPECT_EQ(a.Allocate(1).size(), 1u);
  a.Recover("f", "*", "a1", R("cpus:2;mem:100"), 0, 1);
  a.Suppress("f", {});
  EXPECT_TRUE(a.Allocate(2).empty());
  a.Revive("f", {});
  EXPECT_EQ(a.Allocate(3).size(), 1u);
}

TEST(AllocatorTest, ReservedResourcesGoOnlyToTheirRole) {
  Allocator a(4);
  a.AddAgent("a1", R("cpus(ml):4;mem(ml):100"));
  a.AddFramework("other", {"web"}, {}, true);
  EXPECT_TRUE(a.Allocate(0).empty());
  a.AddFramework("ml", {"ml"}, {}, true);
  auto allocs = a.Allocate(1);
  ASSERT_EQ(allocs.size(), 1u);
  EXPECT_EQ(allocs[0].framework_id, "ml");
  EXPECT_EQ(allocs[0].resources, R("cpus(ml):4;mem(ml):100"));
}

TEST(AllocatorTest, InactiveAgentsAndFrameworksGetNothing) {
  Allocator a(4);
  a.AddAgent("a1", R("cpus:1;mem:1"));
  a.AddFramework("f", {"*"}, {}, false);
  EXPECT_TRUE(a.Allocate(0).empty());
  a.SetFrameworkActive("f", true);
  a.SetAgentActive("a1", false);
  EXPECT_TRUE(a.Allocate(0).empty());
  a.SetAgentActive("a1", true);
  EXPECT_EQ(a.Allocate(0).size(), 1u);
}

TEST(AllocatorTest, RemovedAgentLeavesTheTotal) {
  Allocator a(4);
  a.AddAgent("a1", R("cpus:1;mem:1"));
  a.AddAgent("a2", R("cpus:1;mem:1"));
  a.RemoveAgent("a1");
  EXPECT_EQ(a.ClusterTotal().Get("cpus"), 1000);
  a.AddFramework("f", {"*"}, {}, true);
  auto allocs = a.Allocate(0);
  ASSERT_EQ(allocs.size(), 1u);
  EXPECT_EQ(allocs[0].agent_id, "a2");
}

TEST(AllocatorTest, AFrameworkIsOfferedOnlyAgentsItsConstraintsAdmit) {
  Allocator a(5);
  for (const char* id : {"a0", "a1", "a2"}) a.AddAgent(id, R("cpus:4;mem:1024"));
  a.AddFramework("picky", {"web", "batch"}, {}, true);
  // web takes only a1; batch any agent.
  a.SetAgentAdmission("picky",
                      [](const std::string& agent, const std::string& role) { return role != "web" || agent == "a1"; });
  a.SetWeight("batch", 0.001);  // web goes first wherever it may
  std::map<std::string, std::string> role_of;
  for (const auto& al : a.Allocate(0)) role_of[al.agent_id] = al.role;
  EXPECT_EQ(role_of["a1"], "web");
  EXPECT_EQ(role_of["a0"], "batch");
  EXPECT_EQ(role_of["a2"], "batch");
  // Without admission rules, any agent again.
  a.SetAgentAdmission("picky", nullptr);
  for (const char* id : {"a0", "a1", "a2"}) a.Recover("picky", role_of[id], id, R("cpus:4;mem:1024"), 0, 1);
  role_of.clear();
  for (const auto& al : a.Allocate(2)) role_of[al.agent_id] = al.role;
  EXPECT_EQ(role_of.size(), 3u);
}

}  // namespace
}  // namespace corral
