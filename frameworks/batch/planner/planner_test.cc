#include "planner/planner.h"

#include <gtest/gtest.h>

namespace corral::batch {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);  // 2027-01-15T08:00:00Z, a whole minute

JobState EveryMinute(ConcurrencyPolicy policy, double deadline = 900) {
  JobState js;
  js.job.id = "j";
  js.job.cmd = "true";
  Schedule s;
  s.expression = "* * * * *";
  s.concurrency = policy;
  s.starting_deadline_seconds = deadline;
  s.cursor_ms = ToMs(kT0);
  std::vector<FieldError> errors;
  ValidateSchedule(&s, &errors, "");
  EXPECT_TRUE(errors.empty());
  js.job.schedules.push_back(s);
  return js;
}

Run ActiveRun(const std::string& id, absl::Time instant, bool with_task) {
  Run r;
  r.id = id;
  r.job_id = "j";
  r.instant_ms = ToMs(instant);
  r.trigger = "schedule:default";
  if (with_task) {
    r.attempts = 1;
    r.first_launch_ms = ToMs(instant);
    r.tasks.push_back({"t-" + id, "agent", "TASK_RUNNING", "", "", std::nullopt, ""});
  }
  return r;
}

TEST(PlannerTest, EachInstantStartsOnceAndTheCursorMoves) {
  JobState js = EveryMinute(ConcurrencyPolicy::kAllow);
  JobPlan p = PlanJob(js, kT0 + absl::Seconds(30));
  EXPECT_TRUE(p.start.empty());
  EXPECT_EQ(p.wake_ms, ToMs(kT0 + absl::Minutes(1)));
  p = PlanJob(js, kT0 + absl::Minutes(1));
  ASSERT_EQ(p.start.size(), 1u);
  EXPECT_EQ(p.start[0].second, ToMs(kT0 + absl::Minutes(1)));
  EXPECT_EQ(p.cursors.at("default"), ToMs(kT0 + absl::Minutes(1)));
  js.job.schedules[0].cursor_ms = p.cursors.at("default");
  EXPECT_TRUE(PlanJob(js, kT0 + absl::Minutes(1)).start.empty());  // not twice
}

TEST(PlannerTest, ForbidSkipsAnOverlappingTick) {
  JobState js = EveryMinute(ConcurrencyPolicy::kForbid);
  js.active["r1"] = ActiveRun("r1", kT0, true);
  JobPlan p = PlanJob(js, kT0 + absl::Minutes(1));
  EXPECT_TRUE(p.start.empty());
  ASSERT_EQ(p.missed.size(), 1u);
  EXPECT_NE(p.missed[0].reason.find("FORBID"), std::string::npos);
  EXPECT_EQ(p.cursors.at("default"), ToMs(kT0 + absl::Minutes(1)));  // skipped for good
}

TEST(PlannerTest, AllowOverlapsAndReplaceKills) {
  JobState js = EveryMinute(ConcurrencyPolicy::kAllow);
  js.active["r1"] = ActiveRun("r1", kT0, true);
  EXPECT_EQ(PlanJob(js, kT0 + absl::Minutes(1)).start.size(), 1u);

  js.job.schedules[0].concurrency = ConcurrencyPolicy::kReplace;
  js.active["r0"] = ActiveRun("r0", kT0 - absl::Minutes(1), false);  // still waiting for an offer
  JobPlan p = PlanJob(js, kT0 + absl::Minutes(1));
  ASSERT_EQ(p.start.size(), 1u);
  ASSERT_EQ(p.kill.size(), 1u);
  EXPECT_EQ(p.kill[0].first, "r1");
  ASSERT_EQ(p.expire.size(), 1u);
  EXPECT_EQ(p.expire[0].first, "r0");
  EXPECT_TRUE(p.launch.empty());
}

TEST(PlannerTest, StartingDeadlineMissesOldInstantsAndExpiresUnstartedRuns) {
  // Away for ten minutes with a two-minute deadline: the instants at most
  // two minutes old start (+8, +9, +10), the 7 before are missed.
  JobState js = EveryMinute(ConcurrencyPolicy::kAllow, 120);
  JobPlan p = PlanJob(js, kT0 + absl::Minutes(10));
  EXPECT_EQ(p.missed.size(), 7u);
  EXPECT_EQ(p.start.size(), 3u);
  EXPECT_EQ(p.cursors.at("default"), ToMs(kT0 + absl::Minutes(10)));

  JobState w = EveryMinute(ConcurrencyPolicy::kAllow, 120);
  w.active["r"] = ActiveRun("r", kT0, false);
  EXPECT_EQ(PlanJob(w, kT0 + absl::Seconds(60)).launch.size(), 1u);
  JobPlan late = PlanJob(w, kT0 + absl::Seconds(121));
  ASSERT_EQ(late.expire.size(), 1u);
  EXPECT_NE(late.expire[0].second.find("startingDeadlineSeconds"), std::string::npos);
}

TEST(PlannerTest, ActiveDeadlineKills) {
  JobState js = EveryMinute(ConcurrencyPolicy::kAllow);
  js.job.active_deadline_seconds = 30;
  js.active["r"] = ActiveRun("r", kT0, true);
  EXPECT_TRUE(PlanJob(js, kT0 + absl::Seconds(29)).kill.empty());
  EXPECT_EQ(PlanJob(js, kT0 + absl::Seconds(29)).wake_ms, ToMs(kT0 + absl::Seconds(30)));
  ASSERT_EQ(PlanJob(js, kT0 + absl::Seconds(30)).kill.size(), 1u);
}

TEST(PlannerTest, RetriesBackOffThenFail) {
  Job job;
  job.restart = RestartPolicy::kOnFailure;
  job.max_retries = 2;
  batch::Run run;
  run.attempts = 1;
  TaskEnd e = OnTaskEnd(job, run, "TASK_FAILED", "Command exited with status 1", kT0);
  EXPECT_EQ(e.kind, TaskEnd::kRetry);
  EXPECT_EQ(e.retry_at_ms, ToMs(kT0 + absl::Seconds(1)));
  run.attempts = 2;
  EXPECT_EQ(OnTaskEnd(job, run, "TASK_FAILED", "", kT0).retry_at_ms, ToMs(kT0 + absl::Seconds(2)));
  run.attempts = 3;
  EXPECT_EQ(OnTaskEnd(job, run, "TASK_FAILED", "", kT0).kind, TaskEnd::kFailed);
  EXPECT_EQ(OnTaskEnd(job, run, "TASK_FINISHED", "", kT0).kind, TaskEnd::kSucceeded);
  run.stopping = true;  // killed on purpose: no retry
  run.attempts = 1;
  EXPECT_EQ(OnTaskEnd(job, run, "TASK_KILLED", "", kT0).kind, TaskEnd::kFailed);
  EXPECT_EQ(RetryBackoffSeconds(20), 300);
}

TEST(PlannerTest, ChildrenWaitForEveryParentOfTheSameInstant) {
  Job a, b, c, d;
  a.id = "a";
  b.id = "b";
  c.id = "c";
  c.parents = {"a", "b"};  // fan-in
  d.id = "d";
  d.parents = {"a"};  // fan-out from a
  std::map<std::string, const Job*> jobs{{"a", &a}, {"b", &b}, {"c", &c}, {"d", &d}};
  std::map<std::string, std::vector<std::string>> children{{"a", {"c", "d"}}, {"b", {"c"}}};
  std::map<std::pair<std::string, int64_t>, RunStatus> runs{{{"a", 100}, RunStatus::kSuccess},
                                                            {{"b", 200}, RunStatus::kSuccess}};
  auto job = [&](const std::string& id) { return jobs.at(id); };
  auto status = [&](const std::string& id, int64_t at) -> std::optional<RunStatus> {
    auto it = runs.find({id, at});
    return it == runs.end() ? std::nullopt : std::optional<RunStatus>(it->second);
  };
  EXPECT_EQ(ChildrenDue("a", 100, children, job, status), std::vector<std::string>{"d"});  // b is of another instant
  runs[{"b", 100}] = RunStatus::kActive;
  EXPECT_EQ(ChildrenDue("a", 100, children, job, status), std::vector<std::string>{"d"});
  runs[{"b", 100}] = RunStatus::kSuccess;
  EXPECT_EQ(ChildrenDue("b", 100, children, job, status), std::vector<std::string>{"c"});
  runs[{"c", 100}] = RunStatus::kActive;  // already started: not again
  EXPECT_TRUE(ChildrenDue("b", 100, children, job, status).empty());
}

}  // namespace
}  // namespace corral::batch
