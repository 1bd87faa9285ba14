// A single thread that owns a component's state. Other threads hand it work
// with Post(); timers run on the same thread, on the loop's Clock (the
// system's, or a ManualClock a test advances). Master and agent each own one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "corral/common/clock.h"

namespace corral {

class EventLoop {
 public:
  using TimerId = uint64_t;

  explicit EventLoop(std::string name, Clock* clock = RealClock());
  ~EventLoop();  // stops and joins

  Clock* clock() const { return clock_; }

  // Any thread. Returns false (and drops fn) once Stop() has begun; work
  // queued before Stop() still runs.
  bool Post(std::function<void()> fn);
  // Runs fn on the loop once `delay` has passed on the loop's clock (for
  // zero or less, once the work queued now has run).
  TimerId PostAfter(absl::Duration delay, std::function<void()> fn);
  void Cancel(TimerId id);  // loop thread only

  // Any thread except the loop's own: runs fn on the loop and waits. After
  // Stop() the loop thread is gone and the caller is the only one left, so
  // fn runs on the caller's thread.
  template <typename Fn>
  auto Call(Fn fn) -> decltype(fn()) {
    using R = decltype(fn());
    std::packaged_task<R()> task(std::move(fn));
    auto fut = task.get_future();
    if (!Post([&task] { task(); })) {
      Stop();  // make sure the loop thread has finished before running here
      task();
    }
    return fut.get();
  }

  bool InLoopThread() const { return std::this_thread::get_id() == thread_.get_id(); }
  void Stop();

 private:
  friend class ManualClock;
  void Run();
  // Loop thread only: runs the timers that are due on the clock, in order;
  // true if there were any. For ManualClock::Advance.
  bool RunDueTimers();

  using Timers = std::multimap<absl::Time, std::pair<TimerId, std::function<void()>>>;

  std::string name_;
  Clock* clock_;
  std::mutex mu_;
  std::mutex join_mu_;  // serialises joins from concurrent Stop() calls
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  Timers timers_ ABSL_GUARDED_BY(mu_);                                            // by deadline (the clock's Steady())
  std::unordered_map<TimerId, Timers::iterator> timer_ids_ ABSL_GUARDED_BY(mu_);  // for Cancel
  TimerId next_timer_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace corral
