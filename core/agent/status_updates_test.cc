// The status update manager through its injected hooks and a ManualClock:
// ordering, retries with backoff, acknowledgements, and durability before
// anything is sent.
#include "corral/agent/status_updates.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>

namespace corral {
namespace {

using Key = StatusUpdateManager::Key;
using Acked = StatusUpdateManager::Acked;

v1::TaskStatus Status(const std::string& task, v1::TaskState state, const std::string& uuid) {
  v1::TaskStatus st;
  st.mutable_task_id()->set_value(task);
  st.set_state(state);
  st.set_uuid(uuid);
  return st;
}

class StatusUpdatesTest : public ::testing::Test {
 protected:
  StatusUpdatesTest()
      : updates_({[this](const std::string& fw, const v1::TaskStatus& head, v1::TaskState latest) {
                    log_.push_back("forward " + fw + " " + head.uuid() + " latest=" + v1::TaskState_Name(latest));
                    sent_at_.push_back(clock_.SteadySeconds() - start_);
                  },
                  [this](const Key& key, std::function<void()> durable) {
                    std::string pending;
                    for (const auto& st : updates_.Pending(key)) pending += " " + st.uuid();
                    log_.push_back("checkpoint " + key.second + ":" + pending);
                    if (defer_writes_)
                      writes_.push_back(std::move(durable));
                    else
                      durable();
                  }},
                 &clock_, /*retry_min=*/10, /*retry_max=*/40) {}

  std::vector<std::string> Take() { return std::exchange(log_, {}); }

  ManualClock clock_;
  double start_ = clock_.SteadySeconds();
  std::vector<std::string> log_;
  std::vector<double> sent_at_;
  // With defer_writes_, checkpoints complete when the test says so, oldest first.
  bool defer_writes_ = false;
  std::deque<std::function<void()>> writes_;
  void CompleteWrite() {
    auto done = std::move(writes_.front());
    writes_.pop_front();
    done();
  }
  StatusUpdateManager updates_;
};

TEST_F(StatusUpdatesTest, OneUpdateInFlightPerTaskWrittenDownBeforeItIsSent) {
  updates_.Produce("F", Status("t", v1::TASK_RUNNING, "u1"));
  updates_.Produce("F", Status("t", v1::TASK_FINISHED, "u2"));
  EXPECT_EQ(Take(),
            (std::vector<std::string>{"checkpoint t: u1", "forward F u1 latest=TASK_RUNNING", "checkpoint t: u1 u2"}));
  EXPECT_EQ(updates_.size(), 2u);

  EXPECT_EQ(updates_.Acknowledge({"F", "t"}, "u2"), Acked::kIgnored) << "only the head can be acknowledged";
  EXPECT_EQ(updates_.Acknowledge({"F", "t"}, "u1"), Acked::kNext);
  EXPECT_EQ(Take(), (std::vector<std::string>{"checkpoint t: u2", "forward F u2 latest=TASK_FINISHED"}));
  EXPECT_EQ(updates_.Acknowledge({"F", "t"}, "u1"), Acked::kIgnored) << "a duplicate";
  EXPECT_EQ(updates_.Acknowledge({"F", "t"}, "u2"), Acked::kFinished);
  EXPECT_EQ(updates_.size(), 0u);
  EXPECT_TRUE(Take().empty()) << "a finished task's checkpoint is the agent's to remove";
}

TEST_F(StatusUpdatesTest, NothingIsSentOrAcknowledgedBeforeItsCheckpointIsDurable) {
  defer_writes_ = true;
  updates_.Produce("F", Status("t", v1::TASK_RUNNING, "u1"));
  updates_.Produce("F", Status("t", v1::TASK_FINISHED, "u2"));
  EXPECT_EQ(Take(), (std::vector<std::string>{"checkpoint t: u1", "checkpoint t: u1 u2"}));
  updates_.ForwardAll();
  clock_.Advance(absl::Minutes(5));
  updates_.RetryDue();
  EXPECT_TRUE(Take().empty()) << "an update still being written is not sent, not even when resending all";
  EXPECT_EQ(updates_.Acknowledge({"F", "t"}, "u1"), Acked::kIgnored) << "it cannot have been seen";

  CompleteWrite();
  EXPECT_EQ(Take(), (std::vector<std::string>{"forward F u1 latest=TASK_FINISHED"}));
  EXPECT_EQ(updates_.Acknowledge({"F", "t"}, "u1"), Acked::kNext);
  EXPECT_EQ(Take(), (std::vector<std::string>{"checkpoint t: u2"})) << "u2's own write is not done yet";
  CompleteWrite();
  EXPECT_EQ(Take(), (std::vector<std::string>{"forward F u2 latest=TASK_FINISHED"}));
  CompleteWrite();  // the one that dropped u1
  EXPECT_TRUE(Take().empty()) << "sent once";
  EXPECT_EQ(updates_.Acknowledge({"F", "t"}, "u2"), Acked::kFinished);
}

TEST_F(StatusUpdatesTest, TheHeadIsRetriedWithADoublingBackoffUntilAcknowledged) {
  updates_.Produce("F", Status("t", v1::TASK_RUNNING, "u1"));
  for (int s = 0; s < 120; ++s) {
    clock_.Advance(absl::Seconds(1));
    updates_.RetryDue();
  }
  // 10 s, then 20, then 40 (the most), and 40 again.
  EXPECT_EQ(sent_at_, (std::vector<double>{0, 10, 30, 70, 110}));
  EXPECT_EQ(updates_.Acknowledge({"F", "t"}, "u1"), Acked::kDrained);
  Take();
  clock_.Advance(absl::Hours(1));
  updates_.RetryDue();
  EXPECT_TRUE(Take().empty()) << "nothing left to retry";
}

TEST_F(StatusUpdatesTest, AResubscribedFrameworkGetsItsHeadsAtOnceWithTheBackoffReset) {
  updates_.Produce("F", Status("a", v1::TASK_RUNNING, "a1"));
  updates_.Produce("G", Status("b", v1::TASK_RUNNING, "b1"));
  for (int s = 0; s < 35; ++s) {
    clock_.Advance(absl::Seconds(1));
    updates_.RetryDue();
  }
  Take();
  updates_.ForwardFramework("F");
  EXPECT_EQ(Take(), (std::vector<std::string>{"forward F a1 latest=TASK_RUNNING"}));
  clock_.Advance(absl::Seconds(10));
  updates_.RetryDue();
  EXPECT_EQ(Take(), (std::vector<std::string>{"forward F a1 latest=TASK_RUNNING"})) << "F's backoff is back at 10 s";
  updates_.ForgetFramework("G");
  EXPECT_EQ(updates_.size(), 1u);
}

TEST_F(StatusUpdatesTest, QueuedUpdatesOfOneStateDoNotPileUp) {
  updates_.Produce("F", Status("t", v1::TASK_STARTING, "s"));
  for (int i = 0; i < 100; ++i) updates_.Produce("F", Status("t", v1::TASK_RUNNING, "r" + std::to_string(i)));
  ASSERT_EQ(updates_.size(), 2u) << "the head, and the newest RUNNING";
  EXPECT_EQ(updates_.Pending({"F", "t"}).back().uuid(), "r99");
  updates_.Produce("F", Status("t", v1::TASK_FAILED, "f"));
  updates_.Produce("F", Status("t", v1::TASK_FAILED, "f2"));
  EXPECT_EQ(updates_.size(), 4u) << "terminal updates are never merged";
}

TEST_F(StatusUpdatesTest, RestoredStreamsWaitForTheAgentToForwardThem) {
  updates_.Restore({"F", "t"}, {Status("t", v1::TASK_RUNNING, "u1"), Status("t", v1::TASK_KILLED, "u2")});
  EXPECT_TRUE(Take().empty());
  EXPECT_TRUE(updates_.Holds({"F", "t"}, "u2"));
  updates_.ForwardAll();
  EXPECT_EQ(Take(), (std::vector<std::string>{"forward F u1 latest=TASK_KILLED"}));
}

}  // namespace
}  // namespace corral
