#include "store/store.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace corral::batch {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("batch-store-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(StoreTest, EverythingComesBackAndTheInstantIsFenced) {
  Job job;
  job.id = "nightly";
  job.cmd = "make report";
  job.parents = {"import"};
  Schedule s;
  s.expression = "0 2 * * *";
  s.time_zone = "Europe/Berlin";
  s.cursor_ms = 1234;
  std::vector<FieldError> errors;
  ValidateSchedule(&s, &errors, "");
  job.schedules.push_back(s);
  batch::Run run;
  run.id = "r1";
  run.job_id = "nightly";
  run.instant_ms = 5000;
  run.trigger = "schedule:default";
  run.env = {{"DAY", "monday"}};
  run.tasks.push_back({"t1", "a1", "TASK_FAILED", "x", "y", 3, "Command exited with status 3"});
  run.tasks.push_back({"t2", "a1", "TASK_RUNNING", "z", "", std::nullopt, ""});
  JobStats stats;
  stats.failure_count = 1;
  {
    auto store = OpenSqliteStore(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    StoreBatch b;
    b.put_jobs = {&job};
    b.put_schedules = {{"nightly", &job.schedules[0]}};
    b.put_runs = {&run};
    b.put_stats = {{"nightly", &stats}};
    ASSERT_TRUE((*store)->Commit(b).ok());
    // A second run of the same job for the same instant is refused, and
    // nothing of its batch is written.
    batch::Run twin = run;
    twin.id = "r2";
    JobStats other;
    other.failure_count = 99;
    StoreBatch dup;
    dup.put_runs = {&twin};
    dup.put_stats = {{"nightly", &other}};
    auto st = (*store)->Commit(dup);
    EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists) << st;
    // Updating the run itself is fine.
    run.status = RunStatus::kActive;
    StoreBatch upd;
    upd.put_runs = {&run};
    ASSERT_TRUE((*store)->Commit(upd).ok());
  }
  auto store = OpenSqliteStore(dir_.string());
  ASSERT_TRUE(store.ok());
  auto st = (*store)->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->jobs.size(), 1u);
  EXPECT_EQ(st->jobs[0].parents, std::vector<std::string>{"import"});
  ASSERT_EQ(st->jobs[0].schedules.size(), 1u);
  EXPECT_EQ(st->jobs[0].schedules[0].cursor_ms, 1234);
  EXPECT_TRUE(st->jobs[0].schedules[0].parsed.has_value());
  EXPECT_EQ(st->stats["nightly"].failure_count, 1);
  ASSERT_EQ(st->runs.size(), 1u);
  EXPECT_EQ(st->runs[0].status, RunStatus::kActive);
  EXPECT_EQ(st->runs[0].env.at("DAY"), "monday");
  ASSERT_EQ(st->runs[0].tasks.size(), 2u);
  EXPECT_EQ(st->runs[0].tasks[0].exit_code, 3);
  EXPECT_EQ(st->runs[0].tasks[1].id, "t2");

  StoreBatch del;
  del.delete_jobs = {"nightly"};
  ASSERT_TRUE((*store)->Commit(del).ok());
  st = (*store)->Load();
  EXPECT_TRUE(st->jobs.empty());
  EXPECT_TRUE(st->runs.empty());
  EXPECT_TRUE(st->stats.empty());
}

TEST_F(StoreTest, RunIdsAreUniquePerJobOnly) {
  // Metronome's run IDs are a time and five characters: two jobs' runs of
  // the same second may share one, and must both be kept.
  auto store = OpenSqliteStore(dir_.string());
  ASSERT_TRUE(store.ok());
  Job a, b;
  a.id = "a";
  a.cmd = b.cmd = "true";
  b.id = "b";
  batch::Run ra, rb;
  ra.id = rb.id = "20270115080000abcde";
  ra.job_id = "a";
  rb.job_id = "b";
  ra.instant_ms = rb.instant_ms = 1000;
  ra.tasks.push_back({"a_20270115080000abcde.1", "x", "TASK_RUNNING", "", "", std::nullopt, ""});
  rb.tasks.push_back({"b_20270115080000abcde.1", "x", "TASK_RUNNING", "", "", std::nullopt, ""});
  StoreBatch put;
  put.put_jobs = {&a, &b};
  put.put_runs = {&ra, &rb};
  ASSERT_TRUE((*store)->Commit(put).ok());
  StoreBatch del;
  del.delete_runs = {{"a", ra.id}};
  ASSERT_TRUE((*store)->Commit(del).ok());
  auto st = (*store)->Load();
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->runs.size(), 1u);
  EXPECT_EQ(st->runs[0].job_id, "b");
  ASSERT_EQ(st->runs[0].tasks.size(), 1u);
  EXPECT_EQ(st->runs[0].tasks[0].id, "b_20270115080000abcde.1");
}

}  // namespace
}  // namespace corral::batch
