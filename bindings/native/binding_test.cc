// The bytes-level layer as a language binding uses it: serialized calls in,
// serialized events out, against an in-process cluster.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "corral/binding/cluster.h"
#include "corral/binding/drivers.h"
#include "corral/v1/internal.pb.h"
#include "corral/v1/scheduler.pb.h"

namespace corral::binding {
namespace {

using Event = v1::scheduler::Event;

class RecordingSink : public EventSink {
 public:
  // Decides OnEvent's answer; true when unset.
  std::function<bool(const Event&)> handler;

  bool OnEvent(const char* data, size_t size) override {
    Event ev;
    EXPECT_TRUE(ev.ParseFromArray(data, static_cast<int>(size)));
    EXPECT_TRUE(InCallback());
    bool ok = handler ? handler(ev) : true;
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(ev);
    cv_.notify_all();
    return ok;
  }
  void OnClosed() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++closed_;
    cv_.notify_all();
  }

  // The first event matching `pred`, waiting up to 30 s for it.
  bool WaitFor(const std::function<bool(const Event&)>& pred, Event* out = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] {
      for (const auto& e : events_) {
        if (pred(e)) {
          if (out != nullptr) *out = e;
          return true;
        }
      }
      return false;
    });
  }
  bool WaitClosed() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return closed_ > 0; });
  }
  int closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  int closed_ = 0;
};

std::string Framework(const std::string& id = "", double failover_timeout = 0) {
  v1::FrameworkInfo f;
  f.set_name("binding-test");
  if (!id.empty()) f.mutable_id()->set_value(id);
  if (failover_timeout > 0) f.set_failover_timeout(failover_timeout);
  return f.SerializeAsString();
}

SchedulerOptions Options() {
  SchedulerOptions o;
  o.reconnect_backoff_min = 0.05;
  return o;
}

std::string LaunchCall(const v1::Offer& offer, const std::string& task_id, const std::string& command) {
  v1::scheduler::Call call;
  call.set_type(v1::scheduler::Call::ACCEPT);
  *call.mutable_accept()->add_offer_ids() = offer.id();
  auto* op = call.mutable_accept()->add_operations();
  op->set_type(v1::Offer::Operation::LAUNCH);
  auto* task = op->mutable_launch()->add_task_infos();
  task->set_name(task_id);
  task->mutable_task_id()->set_value(task_id);
  *task->mutable_agent_id() = offer.agent_id();
  task->mutable_command()->set_value(command);
  for (const auto& r : offer.resources()) {
    if (r.name() == "cpus" || r.name() == "mem") {
      auto* out = task->add_resources();
      *out = r;
      out->mutable_scalar()->set_value(r.name() == "cpus" ? 0.1 : 16);
    }
  }
  return call.SerializeAsString();
}

bool IsUpdate(const Event& e, const std::string& task, v1::TaskState state) {
  return e.type() == Event::UPDATE && e.update().status().task_id().value() == task &&
         e.update().status().state() == state;
}

class BindingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.agents = 1;
    o.allocation_interval = 0.05;
    Result r = cluster_.Start(o);
    ASSERT_TRUE(r.ok()) << r.message;
    r = cluster_.WaitForAgents(30);
    ASSERT_TRUE(r.ok()) << r.message;
  }
  Cluster cluster_;
};

TEST(BindingArgumentsTest, BadBytesAreRefusedByName) {
  RecordingSink sink;
  const std::string junk = "\xff\xff\xff";
  SchedulerDriver bad(&sink, junk.data(), junk.size(), "127.0.0.1:1", Options());
  EXPECT_EQ(bad.init_error().message, "framework: not a serialized FrameworkInfo");
  EXPECT_EQ(bad.Start().code, static_cast<int>(absl::StatusCode::kInvalidArgument));

  const std::string framework = Framework();
  SchedulerDriver driver(&sink, framework.data(), framework.size(), "127.0.0.1:1", Options());
  EXPECT_TRUE(driver.init_error().ok());
  Result r = driver.Call(junk.data(), junk.size());
  EXPECT_EQ(r.code, static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(r.message, "call: not a serialized scheduler Call");
  driver.Close();
  EXPECT_EQ(sink.closed(), 1);
  // Every call after Close names why it failed.
  EXPECT_EQ(driver.Start().message, "the driver was closed");
  driver.Close();  // twice is harmless
  EXPECT_EQ(sink.closed(), 1);
}

TEST(BindingArgumentsTest, TheVersionsAreThoseBuilt) {
  EXPECT_EQ(BindingVersion(), kBindingVersion);
  EXPECT_FALSE(CorralVersion().empty());
}

TEST_F(BindingTest, ATaskRunsOnSerializedCallsAndEvents) {
  RecordingSink sink;
  const std::string framework = Framework();
  SchedulerDriver driver(&sink, framework.data(), framework.size(), cluster_.master(), Options());
  ASSERT_TRUE(driver.Start().ok());
  Event offers;
  ASSERT_TRUE(sink.WaitFor([](const Event& e) { return e.type() == Event::OFFERS; }, &offers));
  EXPECT_FALSE(driver.FrameworkId().empty());
  const std::string launch = LaunchCall(offers.offers().offers(0), "t1", "true");
  Result r = driver.Call(launch.data(), launch.size());
  ASSERT_TRUE(r.ok()) << r.message;
  ASSERT_TRUE(sink.WaitFor([](const Event& e) { return IsUpdate(e, "t1", v1::TASK_FINISHED); }));
  ASSERT_TRUE(driver.Stop(false).ok());
  EXPECT_TRUE(driver.JoinFor(10).ok());
  EXPECT_EQ(driver.Status(), kStopped);
}

TEST_F(BindingTest, AFailedHandlerAbortsTheDriverBeforeTheUpdateIsAcknowledged) {
  RecordingSink first;
  first.handler = [](const Event& e) { return !IsUpdate(e, "t1", v1::TASK_FINISHED); };
  const std::string framework = Framework("", 60);
  SchedulerDriver driver(&first, framework.data(), framework.size(), cluster_.master(), Options());
  ASSERT_TRUE(driver.Start().ok());
  Event offers, failed;
  ASSERT_TRUE(first.WaitFor([](const Event& e) { return e.type() == Event::OFFERS; }, &offers));
  const std::string launch = LaunchCall(offers.offers().offers(0), "t1", "true");
  ASSERT_TRUE(driver.Call(launch.data(), launch.size()).ok());
  ASSERT_TRUE(first.WaitFor([](const Event& e) { return IsUpdate(e, "t1", v1::TASK_FINISHED); }, &failed));
  Result joined = driver.JoinFor(10);
  EXPECT_NE(joined.code, Result::kStillRunning);
  EXPECT_EQ(driver.Status(), kAborted);
  const std::string id = driver.FrameworkId();
  driver.Close();

  // The framework fails over: the update it never acknowledged comes again.
  RecordingSink second;
  const std::string again = Framework(id, 60);
  SchedulerDriver next(&second, again.data(), again.size(), cluster_.master(), Options());
  ASSERT_TRUE(next.Start().ok());
  Event resent;
  ASSERT_TRUE(second.WaitFor([](const Event& e) { return IsUpdate(e, "t1", v1::TASK_FINISHED); }, &resent));
  EXPECT_EQ(resent.update().status().uuid(), failed.update().status().uuid());
  ASSERT_TRUE(next.Stop(false).ok());
}

// Pulls events until one matches `pred` (each answered `handled`), up to
// 30 s; the matching one is left unanswered for the caller.
bool PullUntil(EventQueue& q, const std::function<bool(const Event&)>& pred, Event* out) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string bytes;
    Result r = q.Next(1.0, &bytes);
    if (r.code == 4 || r.code == EventQueue::kDisconnected) continue;
    if (!r.ok()) return false;
    Event e;
    EXPECT_TRUE(e.ParseFromString(bytes));
    if (pred(e)) {
      *out = e;
      return true;
    }
    q.Done(true);
  }
  return false;
}

TEST_F(BindingTest, PullModeHandsOutEventsAndAcknowledgesOnlyWhatWasHandled) {
  EventQueue queue;
  std::string bytes;
  EXPECT_EQ(queue.Next(0.01, &bytes).code, 4);  // nothing yet: the timeout
  const std::string framework = Framework("", 60);
  SchedulerDriver driver(&queue, framework.data(), framework.size(), cluster_.master(), Options());
  ASSERT_TRUE(driver.Start().ok());
  Event offers, finished;
  ASSERT_TRUE(PullUntil(
      queue, [](const Event& e) { return e.type() == Event::OFFERS; }, &offers));
  const std::string launch = LaunchCall(offers.offers().offers(0), "t1", "true");
  ASSERT_TRUE(driver.Call(launch.data(), launch.size()).ok());  // from the consumer, while the event is out
  queue.Done(true);
  ASSERT_TRUE(PullUntil(
      queue, [](const Event& e) { return IsUpdate(e, "t1", v1::TASK_FINISHED); }, &finished));
  queue.Done(false);  // the handler failed: the driver aborts, the update stays unacknowledged
  Result joined = driver.JoinFor(10);
  EXPECT_NE(joined.code, Result::kStillRunning);
  EXPECT_EQ(driver.Status(), kAborted);
  const std::string id = driver.FrameworkId();
  queue.Stop();
  driver.Close();
  EXPECT_EQ(queue.Next(1.0, &bytes).code, 11);  // closed: nothing more comes

  EventQueue second;
  const std::string again = Framework(id, 60);
  SchedulerDriver next(&second, again.data(), again.size(), cluster_.master(), Options());
  ASSERT_TRUE(next.Start().ok());
  Event resent;
  ASSERT_TRUE(PullUntil(
      second, [](const Event& e) { return IsUpdate(e, "t1", v1::TASK_FINISHED); }, &resent));
  EXPECT_EQ(resent.update().status().uuid(), finished.update().status().uuid());
  second.Done(true);
  second.Stop();  // an event the consumer will not take does not hold up closing
  ASSERT_TRUE(next.Stop(false).ok());
  next.Close();
}

TEST_F(BindingTest, ADriverClosedInsideItsOwnCallbackFinishesClosingElsewhere) {
  RecordingSink sink;
  const std::string framework = Framework();
  SchedulerDriver* driver = nullptr;
  sink.handler = [&](const Event& e) {
    if (e.type() == Event::SUBSCRIBED) driver->Close();
    return true;
  };
  SchedulerDriver d(&sink, framework.data(), framework.size(), cluster_.master(), Options());
  driver = &d;
  ASSERT_TRUE(d.Start().ok());
  ASSERT_TRUE(sink.WaitClosed());
  EXPECT_TRUE(WaitForClosing(30));
  EXPECT_EQ(d.Status(), kStopped);
  EXPECT_EQ(d.Call("", 0).message, "the driver was closed");
}

TEST_F(BindingTest, TheClusterStateIsReadBothWays) {
  std::string local, remote;
  ASSERT_TRUE(cluster_.State(&local).ok());
  Result r = MasterState(cluster_.master(), 10, &remote);
  ASSERT_TRUE(r.ok()) << r.message;
  v1::internal::ClusterState a, b;
  ASSERT_TRUE(a.ParseFromString(local));
  ASSERT_TRUE(b.ParseFromString(remote));
  EXPECT_EQ(a.agents_size(), 1);
  EXPECT_EQ(b.agents_size(), 1);
  EXPECT_EQ(MasterState("127.0.0.1:1", 0.5, &remote).code, static_cast<int>(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace corral::binding
