// A single thread that owns a component's state. Other threads hand it work
// with Post(); timers run on the same thread. Master and agent each own one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace corral {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = uint64_t;

  explicit EventLoop(std::string name);
  ~EventLoop();  // stops and joins

  // Any thread. Returns false (and drops fn) once Stop() has begun; work
  // queued before Stop() still runs.
  bool Post(std::function<void()> fn);
  TimerId PostAfter(std::chrono::nanoseconds delay, std::function<void()> fn);
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
  void Run();

  std::string name_;
  std::mutex mu_;
  std::mutex join_mu_;  // serialises joins from concurrent Stop() calls
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::multimap<Clock::time_point, std::pair<TimerId, std::function<void()>>> timers_;
  TimerId next_timer_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace corral
