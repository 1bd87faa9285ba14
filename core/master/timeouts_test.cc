// The master's timeouts, on a ManualClock: what would take minutes of real
// time (missed pings, offer and failover timeouts, decline filters) happens
// when the test moves the clock, and each test runs in milliseconds.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "corral/common/clock.h"
#include "corral/master/master.h"
#include "corral/master/registry.h"
#include "corral/master/testing/fakes.h"

namespace corral {
namespace {

namespace fs = std::filesystem;
using testing::RecordingLink;
using testing::RecordingSink;
using testing::RegisterAgentMessage;
using testing::SubscribeCall;
using v1::internal::MasterMessage;
using v1::scheduler::Event;

bool IsOffers(const Event& e) { return e.type() == Event::OFFERS && e.offers().offers_size() > 0; }

class TimeoutsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("timeouts_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    options_.clock = &clock_;
    options_.allocation_interval = 3600;  // allocations follow changes only
    options_.heartbeat_interval = 3600;
  }
  // (Fake agents answer no pings: a test that moves the clock by more than
  // agent_ping_timeout * max_agent_ping_timeouts loses them.)
  void TearDown() override {
    if (master_) master_->Stop();
    master_.reset();
    fs::remove_all(dir_);
  }

  void Start() {
    master_ = std::make_unique<Master>(options_);
    auto registry = OpenSqliteRegistry((dir_ / "registry.db").string());
    ASSERT_TRUE(registry.ok()) << registry.status();
    ASSERT_TRUE(master_->Recover(std::move(*registry)).ok());
  }
  // Registers an agent of cpus:4;mem:1024 on a recording link.
  std::string AddAgent(std::shared_ptr<RecordingLink>* link_out = nullptr) {
    auto link = std::make_shared<RecordingLink>();
    link_id_ = master_->AgentConnected(link);
    master_->AgentMessageReceived(link_id_, RegisterAgentMessage("host-a", "cpus:4;mem:1024"));
    auto registered = link->out.WaitFor([](const MasterMessage& m) { return m.has_registered(); });
    EXPECT_TRUE(registered.has_value());
    if (link_out) *link_out = link;
    links_.push_back(link);
    return registered ? registered->registered().agent_id().value() : "";
  }
  bool AgentActive() {
    auto state = master_->GetState();
    return state.agents_size() == 1 && state.agents(0).active();
  }
  // A round trip through the master's loop: whatever it sent before is
  // recorded once this returns.
  void Flush() { (void)master_->GetState(); }

  ManualClock clock_;
  MasterOptions options_;
  std::unique_ptr<Master> master_;
  uint64_t link_id_ = 0;
  std::vector<std::shared_ptr<RecordingLink>> links_;
  fs::path dir_;
};

TEST_F(TimeoutsTest, AnAgentThatStopsAnsweringPingsIsMarkedUnreachable) {
  options_.agent_ping_timeout = 15;
  options_.max_agent_ping_timeouts = 3;
  Start();
  std::shared_ptr<RecordingLink> link;
  AddAgent(&link);
  auto pings = [&] { return link->out.Count([](const MasterMessage& m) { return m.has_ping(); }); };

  // The first ping goes out after one period; each later period that finds
  // the previous ping unanswered counts one miss.
  clock_.Advance(absl::Seconds(15));
  EXPECT_EQ(pings(), 1u);
  for (int i = 0; i < 2; ++i) clock_.Advance(absl::Seconds(15));
  EXPECT_TRUE(AgentActive()) << "two misses of three";
  clock_.Advance(absl::Seconds(14));
  EXPECT_TRUE(AgentActive()) << "the third period has not ended";
  clock_.Advance(absl::Seconds(1));
  EXPECT_FALSE(AgentActive());
  EXPECT_EQ(pings(), 3u);
}

TEST_F(TimeoutsTest, AnAgentThatAnswersPingsStaysReachable) {
  options_.agent_ping_timeout = 15;
  options_.max_agent_ping_timeouts = 3;
  Start();
  std::shared_ptr<RecordingLink> link;
  AddAgent(&link);
  auto is_ping = [](const MasterMessage& m) { return m.has_ping(); };
  for (size_t i = 1; i <= 20; ++i) {
    clock_.Advance(absl::Seconds(15));
    ASSERT_EQ(link->out.Count(is_ping), i);
    v1::internal::AgentMessage pong;
    pong.mutable_pong()->set_sequence(link->out.All().back().ping().sequence());
    master_->AgentMessageReceived(link_id_, pong);
  }
  EXPECT_TRUE(AgentActive()) << "five minutes of answered pings";
}

TEST_F(TimeoutsTest, AnOfferIsRescindedAtItsTimeoutAndOfferedAgain) {
  options_.offer_timeout = 30;
  Start();
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(master_->Subscribe(SubscribeCall("fw"), sink).ok());
  AddAgent();
  auto offers = sink->out.WaitFor(IsOffers);
  ASSERT_TRUE(offers.has_value());
  std::string offer_id = offers->offers().offers(0).id().value();
  auto rescinded = [&] {
    Flush();
    return sink->out.Count(
        [&](const Event& e) { return e.type() == Event::RESCIND && e.rescind().offer_id().value() == offer_id; });
  };

  clock_.Advance(absl::Seconds(29));
  EXPECT_EQ(rescinded(), 0u);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(rescinded(), 1u);
  // The resources went back to the pool and come back in a new offer.
  auto again =
      sink->out.WaitFor([&](const Event& e) { return IsOffers(e) && e.offers().offers(0).id().value() != offer_id; });
  EXPECT_TRUE(again.has_value());
}

TEST_F(TimeoutsTest, ADisconnectedFrameworkIsRemovedAtItsFailoverTimeout) {
  Start();
  auto sink = std::make_shared<RecordingSink>();
  v1::scheduler::Call subscribe = SubscribeCall("fw");
  subscribe.mutable_subscribe()->mutable_framework_info()->set_failover_timeout(3600);
  auto id = master_->Subscribe(subscribe, sink);
  ASSERT_TRUE(id.ok()) << id.status();
  master_->SubscriberGone(*id, sink.get());
  Flush();
  auto frameworks = [&] { return master_->GetState().frameworks_size(); };
  ASSERT_EQ(frameworks(), 1);
  EXPECT_FALSE(master_->GetState().frameworks(0).connected());

  clock_.Advance(absl::Minutes(59));
  EXPECT_EQ(frameworks(), 1) << "the hour is not up";
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(frameworks(), 0);
}

TEST_F(TimeoutsTest, AFrameworkThatComesBackInTimeIsKept) {
  Start();
  auto sink = std::make_shared<RecordingSink>();
  v1::scheduler::Call subscribe = SubscribeCall("fw");
  subscribe.mutable_subscribe()->mutable_framework_info()->set_failover_timeout(60);
  auto id = master_->Subscribe(subscribe, sink);
  ASSERT_TRUE(id.ok()) << id.status();
  master_->SubscriberGone(*id, sink.get());
  clock_.Advance(absl::Seconds(59));
  subscribe.mutable_subscribe()->mutable_framework_info()->mutable_id()->set_value(*id);
  ASSERT_TRUE(master_->Subscribe(subscribe, std::make_shared<RecordingSink>()).ok());
  clock_.Advance(absl::Hours(1));
  auto state = master_->GetState();
  ASSERT_EQ(state.frameworks_size(), 1);
  EXPECT_TRUE(state.frameworks(0).connected());
}

TEST_F(TimeoutsTest, ADeclineFilterHoldsUntilItsRefuseSeconds) {
  options_.allocation_interval = 1;
  options_.agent_ping_timeout = 3600;  // the fake agent answers no pings
  Start();
  auto sink = std::make_shared<RecordingSink>();
  auto id = master_->Subscribe(SubscribeCall("fw"), sink);
  ASSERT_TRUE(id.ok()) << id.status();
  AddAgent();
  auto offers = sink->out.WaitFor(IsOffers);
  ASSERT_TRUE(offers.has_value());
  v1::scheduler::Call decline;
  decline.set_type(v1::scheduler::Call::DECLINE);
  decline.mutable_framework_id()->set_value(*id);
  *decline.mutable_decline()->add_offer_ids() = offers->offers().offers(0).id();
  decline.mutable_decline()->mutable_filters()->set_refuse_seconds(120);
  ASSERT_TRUE(master_->HandleCall(decline).ok());
  auto count = [&] {
    Flush();
    return sink->out.Count(IsOffers);
  };
  // Allocation cycles each second: none offers the agent again for 120 s.
  for (int i = 0; i < 119; ++i) {
    clock_.Advance(absl::Seconds(1));
    ASSERT_EQ(count(), 1u) << "offered again after " << i + 1 << " s";
  }
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(count(), 2u);
}

}  // namespace
}  // namespace corral
