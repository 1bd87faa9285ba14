#include "corral/common/event_loop.h"

#include <atomic>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "corral/common/duration.h"

namespace corral {
namespace {

TEST(EventLoopTest, RunsWorkInOrderOnItsThread) {
  EventLoop loop("test");
  std::vector<int> seen;
  for (int i = 0; i < 100; ++i) loop.Post([&seen, i] { seen.push_back(i); });
  bool on_loop = loop.Call([&] { return loop.InLoopThread(); });
  EXPECT_TRUE(on_loop);
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
}

TEST(EventLoopTest, TimersFireInDeadlineOrderAndCanBeCancelled) {
  EventLoop loop("test");
  std::promise<void> done;
  std::vector<int> order;
  loop.PostAfter(absl::Milliseconds(30), [&] {
    order.push_back(3);
    done.set_value();
  });
  loop.PostAfter(absl::Milliseconds(10), [&] { order.push_back(1); });
  auto cancelled = loop.PostAfter(absl::Milliseconds(20), [&] { order.push_back(2); });
  loop.Post([&] { loop.Cancel(cancelled); });
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(loop.Call([&] { return order; }), (std::vector<int>{1, 3}));
}

TEST(EventLoopTest, OnAManualClockTimersRunWhenTheTestMovesTime) {
  ManualClock clock;
  EventLoop loop("test", &clock);
  std::vector<std::string> fired;
  loop.Post([&] {
    loop.PostAfter(absl::Hours(1), [&] {
      fired.push_back("hour");
      // A timer set by a timer counts from the time it runs at.
      loop.PostAfter(absl::Minutes(5), [&] { fired.push_back("hour+5m"); });
    });
    loop.PostAfter(absl::Hours(2), [&] { fired.push_back("two hours"); });
  });
  loop.Call([] { return 0; });
  clock.Advance(absl::Minutes(59));
  EXPECT_TRUE(loop.Call([&] { return fired; }).empty());
  clock.Advance(absl::Minutes(10));  // 69 minutes: the hour's timer ran late
  EXPECT_EQ(loop.Call([&] { return fired; }), (std::vector<std::string>{"hour"}));
  clock.Advance(absl::Minutes(5));
  EXPECT_EQ(loop.Call([&] { return fired; }), (std::vector<std::string>{"hour", "hour+5m"}));
  clock.Advance(absl::Minutes(55));
  EXPECT_EQ(loop.Call([&] { return fired; }).size(), 3u);
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1800000000) + absl::Minutes(129));
}

TEST(EventLoopTest, CallAfterStopRunsOnTheCaller) {
  EventLoop loop("test");
  loop.Stop();
  EXPECT_FALSE(loop.Post([] {}));
  EXPECT_EQ(loop.Call([] { return 7; }), 7);
  loop.Stop();  // twice is fine
}

TEST(DurationTest, AcceptsMesosAndShortForms) {
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("15secs"), 15);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("500ms"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("2mins"), 120);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("1hrs"), 3600);
  EXPECT_DOUBLE_EQ(*ParseDurationSeconds("3"), 3);
  EXPECT_FALSE(ParseDurationSeconds("-1secs").ok());
  EXPECT_NE(ParseDurationSeconds("5parsecs").status().message().find("unknown unit 'parsecs'"), std::string::npos);
}

}  // namespace
}  // namespace corral
