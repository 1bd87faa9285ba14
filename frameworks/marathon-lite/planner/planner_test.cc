#include "planner/planner.h"

#include <gtest/gtest.h>

namespace corral::marathon {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

App MakeApp(int instances, const std::string& config = "v1") {
  App a;
  a.id = "/web";
  a.cmd = "sleep 1000";
  a.instances = instances;
  a.last_config_change_at = config;
  return a;
}

Task MakeTask(const std::string& id, const std::string& version, const std::string& state = "TASK_RUNNING",
              const std::string& host = "h1") {
  Task t;
  t.id = id;
  t.app_id = "/web";
  t.version = version;
  t.state = state;
  t.host = host;
  t.staged_at = "2026-01-01T00:00:0" + id.substr(id.size() - 1) + ".000Z";
  return t;
}

TEST(Planner, LaunchesWhatIsMissing) {
  AppPlan p = PlanApp(MakeApp(3), {MakeTask("t1", "v1")}, Backoff(), kNow);
  EXPECT_EQ(p.launch, 2);
  EXPECT_TRUE(p.kill.empty());
  EXPECT_FALSE(p.steady);
}

TEST(Planner, SteadyWhenAllRunningAndHealthy) {
  std::vector<Task> tasks = {MakeTask("t1", "v1"), MakeTask("t2", "v1")};
  EXPECT_TRUE(PlanApp(MakeApp(2), tasks, Backoff(), kNow).steady);
  tasks[1].healthy = false;
  EXPECT_FALSE(PlanApp(MakeApp(2), tasks, Backoff(), kNow).steady);
  tasks[1].healthy = true;
  tasks[1].state = "TASK_STAGING";
  EXPECT_FALSE(PlanApp(MakeApp(2), tasks, Backoff(), kNow).steady);
}

TEST(Planner, ScaleDownKillsYoungestFirstAndNotRunningBeforeRunning) {
  std::vector<Task> tasks = {MakeTask("t1", "v1"), MakeTask("t2", "v1"), MakeTask("t3", "v1"),
                             MakeTask("t4", "v1", "TASK_STAGING")};
  AppPlan p = PlanApp(MakeApp(2), tasks, Backoff(), kNow);
  EXPECT_EQ(p.kill, (std::vector<std::string>{"t4", "t3"}));
  App oldest = MakeApp(2);
  oldest.kill_selection = "OLDEST_FIRST";
  p = PlanApp(oldest, tasks, Backoff(), kNow);
  EXPECT_EQ(p.kill, (std::vector<std::string>{"t4", "t1"}));
}

TEST(Planner, KillingTasksDoNotCount) {
  std::vector<Task> tasks = {MakeTask("t1", "v1"), MakeTask("t2", "v1")};
  tasks[1].killing = true;
  EXPECT_EQ(PlanApp(MakeApp(2), tasks, Backoff(), kNow).launch, 1);
}

// Marathon's rolling rule at every step: never fewer healthy than
// ceil(n * minimumHealthCapacity), never more than floor(n * (1 +
// maximumOverCapacity)) tasks. Simulated: launched tasks come up, killed
// ones go, until only new tasks remain.
void Roll(double min_health, double max_over, int n) {
  App app = MakeApp(n, "v2");
  app.upgrade_strategy = {min_health, max_over};
  std::vector<Task> tasks;
  for (int i = 0; i < n; ++i) tasks.push_back(MakeTask("old" + std::to_string(i), "v1"));
  const int min_healthy = static_cast<int>(std::ceil(n * min_health));
  const int max_total = static_cast<int>(std::floor(n * (1 + max_over)));
  int next = 0;
  for (int step = 0; step < 4 * n + 4; ++step) {
    AppPlan p = PlanApp(app, tasks, Backoff(), kNow);
    if (p.steady) {
      for (const auto& t : tasks) EXPECT_EQ(t.version, "v2");
      return;
    }
    // Tasks killed a step ago are gone now; those killed now linger a step,
    // as kills take a round trip to the agent.
    tasks.erase(std::remove_if(tasks.begin(), tasks.end(), [](const Task& t) { return t.killing; }), tasks.end());
    for (auto& t : tasks) {
      if (std::find(p.kill.begin(), p.kill.end(), t.id) != p.kill.end()) t.killing = true;
    }
    int healthy = 0;
    for (const auto& t : tasks) healthy += t.state == "TASK_RUNNING" && !t.killing;
    // With no room over capacity and no healthy task to spare, one old task
    // makes room at a time (Marathon's way out), and only then.
    const int floor = (max_total <= n && min_healthy >= n) ? n - 1 : min_healthy;
    EXPECT_GE(healthy, floor) << "step " << step;
    for (int i = 0; i < p.launch; ++i) tasks.push_back(MakeTask("new" + std::to_string(next++), "v2", "TASK_STAGING"));
    EXPECT_LE(static_cast<int>(tasks.size()), std::max(max_total, n)) << "step " << step;
    // One round later the new tasks are running.
    for (auto& t : tasks) t.state = "TASK_RUNNING";
  }
  ADD_FAILURE() << "the rolling upgrade did not finish (" << min_health << ", " << max_over << ")";
}

TEST(Planner, RollingUpgradeKeepsBounds) {
  Roll(1.0, 1.0, 4);  // Marathon's default: all new first, then the old go
  Roll(0.5, 0.0, 4);  // half down at a time, never over
  Roll(0.75, 0.25, 8);
  Roll(1.0, 0.0, 3);  // no room: one old task makes room at a time
  Roll(0.0, 0.0, 3);
}

TEST(Planner, BackoffHoldsLaunches) {
  App app = MakeApp(1);
  app.backoff_seconds = 2;
  app.backoff_factor = 2;
  app.max_launch_delay_seconds = 5;
  Backoff b{3, kNow - absl::Seconds(1)};  // delay 2 * 2^2 = 8, capped at 5
  AppPlan p = PlanApp(app, {}, b, kNow);
  EXPECT_EQ(p.launch, 0);
  EXPECT_EQ(p.launch_after, kNow + absl::Seconds(4));
  EXPECT_EQ(PlanApp(app, {}, b, kNow + absl::Seconds(4)).launch, 1);
}

TEST(Planner, UnreachableTasksAreReplacedThenExpunged) {
  App app = MakeApp(1);
  app.unreachable_strategy = {false, 60, 120};
  Task t = MakeTask("t1", "v1", "TASK_UNREACHABLE");
  t.unreachable_since = Timestamp(kNow);
  EXPECT_EQ(PlanApp(app, {t}, Backoff(), kNow + absl::Seconds(30)).launch, 0);
  EXPECT_EQ(PlanApp(app, {t}, Backoff(), kNow + absl::Seconds(61)).launch, 1);
  AppPlan p = PlanApp(app, {t}, Backoff(), kNow + absl::Seconds(121));
  EXPECT_EQ(p.expunge, std::vector<std::string>{"t1"});
  app.unreachable_strategy.disabled = true;
  EXPECT_EQ(PlanApp(app, {t}, Backoff(), kNow + absl::Seconds(1000)).launch, 0);
}

TEST(Constraints, UniqueMaxPerClusterLikeGroupBy) {
  App app = MakeApp(3);
  Task a = MakeTask("t1", "v1", "TASK_RUNNING", "h1");
  a.attributes = {{"rack", "r1"}};
  std::vector<const Task*> placed = {&a};
  app.constraints = {{"hostname", "UNIQUE", ""}};
  EXPECT_FALSE(SatisfiesConstraints(app, "h1", {}, placed));
  EXPECT_TRUE(SatisfiesConstraints(app, "h2", {}, placed));
  app.constraints = {{"rack", "MAX_PER", "2"}};
  EXPECT_TRUE(SatisfiesConstraints(app, "h2", {{"rack", "r1"}}, placed));
  Task b = a;
  std::vector<const Task*> two = {&a, &b};
  EXPECT_FALSE(SatisfiesConstraints(app, "h2", {{"rack", "r1"}}, two));
  EXPECT_FALSE(SatisfiesConstraints(app, "h2", {}, two));  // no rack at all
  app.constraints = {{"rack", "CLUSTER", "r2"}};
  EXPECT_FALSE(SatisfiesConstraints(app, "h2", {{"rack", "r1"}}, {}));
  EXPECT_TRUE(SatisfiesConstraints(app, "h2", {{"rack", "r2"}}, {}));
  app.constraints = {{"hostname", "LIKE", "h[0-9]"}};
  EXPECT_TRUE(SatisfiesConstraints(app, "h7", {}, {}));
  EXPECT_FALSE(SatisfiesConstraints(app, "x7", {}, {}));
  app.constraints = {{"hostname", "UNLIKE", "h[0-9]"}};
  EXPECT_FALSE(SatisfiesConstraints(app, "h7", {}, {}));
  app.constraints = {{"rack", "GROUP_BY", "2"}};
  EXPECT_FALSE(SatisfiesConstraints(app, "h2", {{"rack", "r1"}}, placed));  // r2 is still empty
  EXPECT_TRUE(SatisfiesConstraints(app, "h2", {{"rack", "r2"}}, placed));
  app.constraints = {{"rack", "IS", "r1"}};
  EXPECT_TRUE(SatisfiesConstraints(app, "h2", {{"rack", "r1"}}, {}));
  EXPECT_FALSE(SatisfiesConstraints(app, "h2", {{"rack", "r3"}}, {}));
}

}  // namespace
}  // namespace corral::marathon

namespace corral::marathon {
namespace {

TEST(Planner, CrashLoopLimitStopsLaunches) {
  App app = MakeApp(1);
  app.crash_loop_limit = 3;
  app.backoff_seconds = 0;
  EXPECT_EQ(PlanApp(app, {}, Backoff{2, kNow}, kNow).launch, 1);
  AppPlan p = PlanApp(app, {}, Backoff{3, kNow}, kNow + absl::Hours(1));
  EXPECT_EQ(p.launch, 0);
  EXPECT_TRUE(p.crash_looping);
}

TEST(Planner, ProgressCountsHealthyNewLessOld) {
  App app = MakeApp(2, "v2");
  std::vector<Task> tasks = {MakeTask("t1", "v1"), MakeTask("t2", "v1")};
  EXPECT_EQ(Progress(app, tasks), -2);
  tasks.push_back(MakeTask("t3", "v2", "TASK_STAGING"));
  EXPECT_EQ(Progress(app, tasks), -2);
  tasks.back().state = "TASK_RUNNING";
  EXPECT_EQ(Progress(app, tasks), -1);
  tasks[0].killing = true;
  EXPECT_EQ(Progress(app, tasks), 0);
}

}  // namespace
}  // namespace corral::marathon

namespace corral::marathon {
namespace {

TEST(Planner, CanaryRunsItsTasksBesideTheOldUntilPromoted) {
  for (auto strategy : {UpgradeStrategy{1.0, 1.0}, UpgradeStrategy{0.5, 0.0}, UpgradeStrategy{0.0, 0.0}}) {
    App app = MakeApp(4, "v2");
    app.upgrade_strategy = strategy;
    std::vector<Task> tasks;
    for (int i = 0; i < 4; ++i) tasks.push_back(MakeTask("old" + std::to_string(i), "v1"));
    for (int step = 0; step < 10; ++step) {
      AppPlan p = PlanApp(app, tasks, Backoff(), kNow, /*canary=*/1);
      EXPECT_FALSE(p.steady);
      for (const auto& id : p.kill) {
        tasks.erase(std::remove_if(tasks.begin(), tasks.end(), [&](const Task& t) { return t.id == id; }), tasks.end());
      }
      for (int i = 0; i < p.launch; ++i)
        tasks.push_back(MakeTask("new" + std::to_string(step) + std::to_string(i), "v2"));
    }
    int news = 0;
    for (const auto& t : tasks) news += t.version == "v2";
    EXPECT_EQ(news, 1);
    EXPECT_EQ(tasks.size(), 4u) << "the canary replaced one old task, no more";
    EXPECT_TRUE(PlanApp(app, tasks, Backoff(), kNow, 1).canary_ready);
    // Promoted: the rest rolls.
    AppPlan p = PlanApp(app, tasks, Backoff(), kNow);
    EXPECT_TRUE(p.launch > 0 || !p.kill.empty());
  }
}

}  // namespace
}  // namespace corral::marathon

namespace corral::marathon {
namespace {

TEST(Planner, ANewTaskRetiresAnOldOneOnlyOnceReady) {
  App app = MakeApp(1, "v2");
  app.upgrade_strategy = {1.0, 1.0};
  app.readiness_checks.emplace_back();
  std::vector<Task> tasks = {MakeTask("old1", "v1"), MakeTask("new1", "v2")};
  AppPlan p = PlanApp(app, tasks, Backoff(), kNow);
  EXPECT_TRUE(p.kill.empty()) << "running, not ready";
  EXPECT_FALSE(p.steady);
  tasks[1].ready = true;
  p = PlanApp(app, tasks, Backoff(), kNow);
  EXPECT_EQ(p.kill, std::vector<std::string>{"old1"});
}

}  // namespace
}  // namespace corral::marathon
