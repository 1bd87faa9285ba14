#include "corral/common/event_loop.h"

#include <atomic>
#include <future>
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
  loop.PostAfter(std::chrono::milliseconds(30), [&] {
    order.push_back(3);
    done.set_value();
  });
  loop.PostAfter(std::chrono::milliseconds(10), [&] { order.push_back(1); });
  auto cancelled = loop.PostAfter(std::chrono::milliseconds(20), [&] { order.push_back(2); });
  loop.Post([&] { loop.Cancel(cancelled); });
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(loop.Call([&] { return order; }), (std::vector<int>{1, 3}));
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
