#include "corral/common/event_loop.h"

#include <pthread.h>

namespace corral {

EventLoop::EventLoop(std::string name) : name_(std::move(name)) {
  thread_ = std::thread([this] { Run(); });
}

EventLoop::~EventLoop() { Stop(); }

bool EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
  return true;
}

EventLoop::TimerId EventLoop::PostAfter(std::chrono::nanoseconds delay, std::function<void()> fn) {
  TimerId id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return 0;
    id = next_timer_++;
    timers_.emplace(Clock::now() + delay, std::make_pair(id, std::move(fn)));
  }
  cv_.notify_one();
  return id;
}

void EventLoop::Cancel(TimerId id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return;
    }
  }
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
    // Queued work runs even after Stop() (a Call() may be waiting on it);
    // timers do not.
    if (!queue_.empty()) {
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
      continue;
    }
    if (stopping_) {
      timers_.clear();
      return;
    }
    if (!timers_.empty()) {
      auto first = timers_.begin();
      if (first->first <= Clock::now()) {
        auto fn = std::move(first->second.second);
        timers_.erase(first);
        lock.unlock();
        fn();
        lock.lock();
        continue;
      }
      cv_.wait_until(lock, first->first);
    } else {
      cv_.wait(lock);
    }
  }
}

}  // namespace corral
