// Time as the master's and the agent's components see it. Everything that
// waits (ping and reregistration timeouts, offer timeouts and filters,
// failover timeouts, health checks, retries, garbage collection) asks its
// Clock, through the EventLoop that runs it, so that a test can move time
// on by hand and see an hour of timeouts happen in a millisecond.
//
// Threading: any thread may read a clock; ManualClock::Advance is for the
// test's own thread, never an EventLoop's.
#pragma once

#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace corral {

class EventLoop;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: timestamps others see (status updates, registration).
  virtual absl::Time Now() = 0;
  // Monotonic time for deadlines and durations; its origin is arbitrary.
  virtual absl::Time Steady() = 0;
  // True for a clock that moves only when a test moves it.
  virtual bool manual() const { return false; }

  // Seconds, as the components' compact types keep them.
  double NowSeconds() { return absl::ToDoubleSeconds(Now() - absl::UnixEpoch()); }
  double SteadySeconds() { return absl::ToDoubleSeconds(Steady() - absl::UnixEpoch()); }
};

// The system's clocks (CLOCK_REALTIME and CLOCK_MONOTONIC).
Clock* RealClock();

// A clock that stands still until the test advances it. Both its times move
// together.
class ManualClock : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1800000000));
  absl::Time Now() override;
  absl::Time Steady() override;
  bool manual() const override { return true; }
  // Moves time on by `d`, and returns once every EventLoop on this clock has
  // run the timers (and the timers those set) that are due by then.
  void Advance(absl::Duration d);

 private:
  friend class EventLoop;
  void AddLoop(EventLoop* loop);
  void RemoveLoop(EventLoop* loop);

  std::mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::vector<EventLoop*> loops_ ABSL_GUARDED_BY(mu_);
};

}  // namespace corral
