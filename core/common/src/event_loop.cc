#include "corral/common/event_loop.h"

#include <pthread.h>

#include <chrono>

#include "absl/time/clock.h"

namespace corral {

EventLoop::EventLoop(std::string name, Clock* clock) : name_(std::move(name)), clock_(clock) {
  if (clock_->manual()) static_cast<ManualClock*>(clock_)->AddLoop(this);
  thread_ = std::thread([this] { Run(); });
}

EventLoop::~EventLoop() {
  Stop();
  if (clock_->manual()) static_cast<ManualClock*>(clock_)->RemoveLoop(this);
}

bool EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
  return true;
}

EventLoop::TimerId EventLoop::PostAfter(absl::Duration delay, std::function<void()> fn) {
  absl::Time deadline = clock_->Steady() + std::max(delay, absl::ZeroDuration());
  TimerId id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return 0;
    id = next_timer_++;
    timer_ids_[id] = timers_.emplace(deadline, std::make_pair(id, std::move(fn)));
  }
  cv_.notify_one();
  return id;
}

void EventLoop::Cancel(TimerId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = timer_ids_.find(id);
  if (it == timer_ids_.end()) return;
  timers_.erase(it->second);
  timer_ids_.erase(it);
}

bool EventLoop::RunDueTimers() {
  std::unique_lock<std::mutex> lock(mu_);
  bool ran = false;
  while (!stopping_ && !timers_.empty() && timers_.begin()->first <= clock_->Steady()) {
    auto first = timers_.begin();
    auto fn = std::move(first->second.second);
    timer_ids_.erase(first->second.first);
    timers_.erase(first);
    lock.unlock();
    fn();
    ran = true;
    lock.lock();
  }
  return ran;
}

void EventLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::lock_guard<std::mutex> join_lock(join_mu_);
  if (thread_.joinable() && !InLoopThread()) thread_.join();
}

void EventLoop::Run() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    // Queued work first, and even after Stop() (a Call() may be waiting on
    // it); then due timers, which do not run once stopping.
    if (!queue_.empty()) {
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
      continue;
    }
    absl::Time now = clock_->Steady();
    if (!stopping_ && !timers_.empty() && timers_.begin()->first <= now) {
      auto first = timers_.begin();
      auto fn = std::move(first->second.second);
      timer_ids_.erase(first->second.first);
      timers_.erase(first);
      lock.unlock();
      fn();
      lock.lock();
      continue;
    }
    if (stopping_) {
      timers_.clear();
      timer_ids_.clear();
      return;
    }
    if (timers_.empty() || clock_->manual()) {
      cv_.wait(lock);  // for work, a new timer, or the manual clock to move
    } else {
      absl::Duration left = timers_.begin()->first - now;
      cv_.wait_for(lock, absl::ToChronoNanoseconds(left));
    }
  }
}

// --- clocks ------------------------------------------------------------------

namespace {

class SystemClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  absl::Time Steady() override {
    return absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
  }
};

}  // namespace

Clock* RealClock() {
  static SystemClock* clock = new SystemClock();  // used until the process ends
  return clock;
}

ManualClock::ManualClock(absl::Time start) : now_(start) {}

absl::Time ManualClock::Now() {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

absl::Time ManualClock::Steady() { return Now(); }

void ManualClock::Advance(absl::Duration d) {
  std::vector<EventLoop*> loops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
    loops = loops_;
  }
  // Each Call runs behind the work queued before it (some of it posted by
  // the timers the previous Call ran) and then runs the timers now due;
  // when one finds none due, the loop has caught up with the clock.
  for (EventLoop* loop : loops) {
    while (loop->Call([loop] { return loop->RunDueTimers(); })) {}
  }
}

void ManualClock::AddLoop(EventLoop* loop) {
  std::lock_guard<std::mutex> lock(mu_);
  loops_.push_back(loop);
}

void ManualClock::RemoveLoop(EventLoop* loop) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = loops_.begin(); it != loops_.end(); ++it) {
    if (*it == loop) {
      loops_.erase(it);
      return;
    }
  }
}

}  // namespace corral
