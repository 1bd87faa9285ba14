// The checkpoint writer: files land whole and in order, a batch costs two
// syncs however many files it holds, and every `done` runs after its batch.
#include "corral/agent/checkpoint_writer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "corral/agent/checkpoint.h"
#include "corral/v1/corral.pb.h"

namespace corral {
namespace {

namespace fs = std::filesystem;

std::string Encoded(const std::string& id) {
  v1::TaskID t;
  t.set_value(id);
  return EncodeCheckpoint(t);
}

class CheckpointWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/corral-writer-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // What the checkpoint at `name` holds; "" when there is none.
  std::string Read(const std::string& name) {
    v1::TaskID t;
    if (!ReadCheckpointFile(dir_ + "/" + name, &t).ok()) return "";
    return t.value();
  }

  // Waits (with a deadline) until everything queued on `w` so far is done.
  static absl::Status Flush(CheckpointWriter& w) {
    std::promise<absl::Status> p;
    auto f = p.get_future();
    w.Barrier([&p](const absl::Status& s) { p.set_value(s); });
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return absl::DeadlineExceededError("flush");
    return f.get();
  }

  std::string dir_;
};

TEST_F(CheckpointWriterTest, WritesAndRemovesLandInTheOrderGiven) {
  CheckpointWriter w(dir_);
  std::vector<std::string> results;
  std::mutex mu;
  auto record = [&](const std::string& what) {
    return [&, what](const absl::Status& s) {
      std::lock_guard<std::mutex> lock(mu);
      results.push_back(what + (s.ok() ? " ok" : " " + std::string(s.message())));
    };
  };
  w.Write(dir_ + "/a/b/task", Encoded("one"), true, record("write one"));  // its directories are made
  w.Write(dir_ + "/a/b/task", Encoded("two"), true, record("write two"));
  w.Write(dir_ + "/gone", Encoded("x"), true);
  w.Remove(dir_ + "/gone", record("remove gone"));
  w.Remove(dir_ + "/never-there", record("remove never-there"));
  w.Write(dir_ + "/tree/f/task", Encoded("x"), true);
  w.RemoveTree(dir_ + "/tree", record("remove tree"));
  w.Write(dir_ + "/back", Encoded("x"), false);
  w.Remove(dir_ + "/back");
  w.Write(dir_ + "/back", Encoded("again"), false);
  ASSERT_TRUE(Flush(w).ok());

  EXPECT_EQ(Read("a/b/task"), "two");
  EXPECT_FALSE(fs::exists(dir_ + "/gone"));
  EXPECT_FALSE(fs::exists(dir_ + "/tree"));
  EXPECT_EQ(Read("back"), "again");
  EXPECT_EQ(results, (std::vector<std::string>{"write one ok", "write two ok", "remove gone ok",
                                               "remove never-there ok", "remove tree ok"}));
  for (const auto& entry : fs::recursive_directory_iterator(dir_))
    EXPECT_NE(entry.path().extension(), ".tmp") << "no temporary is left behind: " << entry.path();
}

TEST_F(CheckpointWriterTest, ABatchOfManyFilesCostsTwoSyncsAndIsDurableBeforeAnyDone) {
  CheckpointWriter w(dir_);
  // Hold the writer inside a `done` so that what follows queues up.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> holding;
  w.Write(dir_ + "/first", Encoded("first"), true, [&](const absl::Status&) {
    holding.set_value();
    released.wait();
  });
  ASSERT_EQ(holding.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(w.stats().syncs, 2u);

  std::atomic<int> done{0};
  std::atomic<bool> all_there_at_each_done{true};
  for (int i = 0; i < 100; ++i) {
    w.Write(dir_ + "/t" + std::to_string(i), Encoded("t" + std::to_string(i)), true, [&](const absl::Status& s) {
      // Every file of the batch is in place before the first `done` runs.
      if (!s.ok() || !fs::exists(dir_ + "/t99")) all_there_at_each_done = false;
      ++done;
    });
  }
  EXPECT_EQ(done.load(), 0);
  std::promise<absl::Status> flushed;
  w.Barrier([&](const absl::Status& s) { flushed.set_value(s); });
  release.set_value();
  auto f = flushed.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(done.load(), 100);
  EXPECT_TRUE(all_there_at_each_done.load());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(Read("t" + std::to_string(i)), "t" + std::to_string(i));
  CheckpointWriter::Stats stats = w.stats();
  EXPECT_EQ(stats.batches, 2u) << "the first write, then the hundred (and the barrier) together";
  EXPECT_EQ(stats.syncs, 4u);
  EXPECT_EQ(stats.operations, 102u);
}

TEST_F(CheckpointWriterTest, AWriteThatCannotBeMadeSaysWhichFileAndWhy) {
  CheckpointWriter w(dir_);
  ASSERT_TRUE(WriteCheckpointFile(dir_ + "/plain", v1::TaskID(), false).ok());
  std::promise<absl::Status> p;
  w.Write(dir_ + "/plain/task", Encoded("x"), true, [&](const absl::Status& s) { p.set_value(s); });
  w.Write(dir_ + "/fine", Encoded("fine"), true);
  absl::Status s = p.get_future().get();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(dir_ + "/plain"), std::string::npos) << s.message();
  ASSERT_TRUE(Flush(w).ok());
  EXPECT_EQ(Read("fine"), "fine") << "one failed write does not stop the others";
}

TEST_F(CheckpointWriterTest, StopFinishesWhatIsQueuedAndRefusesWhatComesAfter) {
  auto w = std::make_unique<CheckpointWriter>(dir_);
  for (int i = 0; i < 50; ++i) w->Write(dir_ + "/t" + std::to_string(i), Encoded("x"), true);
  w->Stop();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Read("t" + std::to_string(i)), "x");
  absl::Status late;
  w->Write(dir_ + "/late", Encoded("x"), true, [&](const absl::Status& s) { late = s; });
  EXPECT_TRUE(absl::IsCancelled(late)) << late;
  EXPECT_FALSE(fs::exists(dir_ + "/late"));
}

}  // namespace
}  // namespace corral
