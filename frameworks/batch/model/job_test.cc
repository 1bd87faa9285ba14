#include "model/job.h"

#include <gtest/gtest.h>

#include "model/job_json.h"

namespace corral::batch {
namespace {

Job MakeJob(const std::string& id, std::vector<std::string> parents = {}) {
  Job j;
  j.id = id;
  j.cmd = "true";
  j.parents = std::move(parents);
  return j;
}

TEST(JobTest, ParentsMustExist) {
  Job a = MakeJob("a"), c = MakeJob("c", {"a", "b"});
  std::map<std::string, const Job*> jobs{{"a", &a}};
  auto err = CheckParents(c, jobs);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(*err, "unknown parent 'b'");
}

TEST(JobTest, CyclesAreRefusedAndNamed) {
  // a <- b <- c, and a now wants c as its parent: a -> b -> c -> a.
  Job a = MakeJob("a"), b = MakeJob("b", {"a"}), c = MakeJob("c", {"b"});
  std::map<std::string, const Job*> jobs{{"a", &a}, {"b", &b}, {"c", &c}};
  Job a2 = MakeJob("a", {"c"});
  auto err = CheckParents(a2, jobs);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(*err, "the parents make a cycle: a -> b -> c -> a");
  // Fan-in and fan-out are no cycle.
  Job d = MakeJob("d", {"b", "c"});
  EXPECT_FALSE(CheckParents(d, jobs).has_value());
}

TEST(JobTest, ValidationNamesEachBadField) {
  Job j;
  j.id = "bad id";
  j.cpus = 0;
  j.mem = -1;
  Schedule s;
  s.expression = "99 * * * *";
  j.schedules = {s, s};
  std::vector<FieldError> errors;
  ValidateJob(&j, &errors);
  std::set<std::string> paths;
  for (const auto& e : errors) paths.insert(e.path);
  for (const char* p : {"/id", "/run", "/run/cpus", "/run/mem", "/schedules/0/cron", "/schedules/1/id"}) {
    EXPECT_TRUE(paths.count(p)) << p;
  }
}

TEST(JobTest, MetronomeIds) {
  EXPECT_TRUE(ValidMetronomeId("prod.nightly-report"));
  EXPECT_FALSE(ValidMetronomeId("Prod"));
  EXPECT_FALSE(ValidMetronomeId("a..b"));
  EXPECT_FALSE(ValidMetronomeId("-a"));
}

TEST(JobTest, ChronosJobBecomesTheModelAndBack) {
  rapidjson::Document doc;
  doc.Parse(R"({"name": "NIGHTLY_IMPORT", "command": "echo hi", "owner": "ops@example.com", "disabled": false,
                "schedule": "R/2026-12-08T02:00:00Z/P1D", "scheduleTimeZone": "Europe/Berlin", "epsilon": "PT30S",
                "retries": 3, "cpus": 0.5, "environmentVariables": [{"name": "A", "value": "1"}],
                "constraints": [["rack", "EQUALS", "r1"]], "concurrent": false, "maxCompletionTime": 600})");
  Job j;
  std::vector<FieldError> errors;
  ReadChronosJob(doc, &j, &errors, /*dependency=*/false);
  ValidateJob(&j, &errors);
  ASSERT_TRUE(errors.empty()) << errors[0].path << ": " << errors[0].error;
  EXPECT_EQ(j.id, "NIGHTLY_IMPORT");
  EXPECT_EQ(j.restart, RestartPolicy::kOnFailure);
  EXPECT_EQ(j.max_retries, 3);
  EXPECT_EQ(j.active_deadline_seconds, 600);
  ASSERT_EQ(j.schedules.size(), 1u);
  EXPECT_EQ(j.schedules[0].concurrency, ConcurrencyPolicy::kForbid);
  EXPECT_EQ(j.schedules[0].starting_deadline_seconds, 30);
  EXPECT_EQ(j.schedules[0].time_zone, "Europe/Berlin");
  EXPECT_EQ(j.constraints[0].op, "EQ");
  // The stored row gives the same job back.
  auto again = ParseStoredJob(StoredJobJson(j));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(StoredJobJson(*again), StoredJobJson(j));

  rapidjson::Document dep;
  dep.Parse(R"({"name": "report", "command": "true", "schedule": "R/2026-12-08T02:00:00Z/P1D"})");
  Job d;
  errors.clear();
  ReadChronosJob(dep, &d, &errors, /*dependency=*/true);
  ASSERT_EQ(errors.size(), 2u);  // no parents, and a schedule
}

}  // namespace
}  // namespace corral::batch
