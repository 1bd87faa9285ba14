// Helpers for end-to-end tests: a scheduler that records every event and
// lets a test wait (with a deadline) for what it expects.
#pragma once

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <thread>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "corral/common/task_state.h"
#include "corral/scheduler.h"

namespace corral::testing {

using corral::IsTerminalState;

class RecordingScheduler : public Scheduler {
 public:
  // Optional hook run on the callback thread for each OFFERS event; when
  // unset, offers are queued for TakeOffer().
  std::function<void(SchedulerDriver*, const std::vector<v1::Offer>&)> on_offers;

  void subscribed(SchedulerDriver*, const v1::FrameworkID& id, const v1::MasterInfo&) override {
    std::lock_guard<std::mutex> lock(mu_);
    framework_id_ = id.value();
    ++subscribed_;
    cv_.notify_all();
  }
  void offers(SchedulerDriver* driver, const std::vector<v1::Offer>& offers) override {
    if (on_offers) {
      on_offers(driver, offers);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& o : offers) offers_.push_back(o);
    cv_.notify_all();
  }
  void rescinded(SchedulerDriver*, const v1::OfferID& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    rescinded_.push_back(id.value());
    for (auto it = offers_.begin(); it != offers_.end(); ++it) {
      if (it->id().value() == id.value()) {
        offers_.erase(it);
        break;
      }
    }
    cv_.notify_all();
  }
  void inverseOffers(SchedulerDriver*, const std::vector<v1::InverseOffer>& offers) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& o : offers) inverse_offers_.push_back(o);
    cv_.notify_all();
  }
  void rescindedInverseOffer(SchedulerDriver*, const v1::OfferID& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    rescinded_inverse_.push_back(id.value());
    cv_.notify_all();
  }
  void update(SchedulerDriver*, const v1::TaskStatus& st) override {
    std::lock_guard<std::mutex> lock(mu_);
    updates_.push_back(st);
    latest_[st.task_id().value()] = st;
    cv_.notify_all();
  }
  void message(SchedulerDriver*, const v1::AgentID&, const v1::ExecutorID&, const std::string& data) override {
    std::lock_guard<std::mutex> lock(mu_);
    messages_.push_back(data);
    cv_.notify_all();
  }
  void failure(SchedulerDriver*, const v1::AgentID& agent_id, const v1::ExecutorID& executor_id, int) override {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.push_back({agent_id.value(), executor_id.value()});
    cv_.notify_all();
  }
  void error(SchedulerDriver*, const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.push_back(message);
    cv_.notify_all();
  }
  void disconnected(SchedulerDriver*) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++disconnected_;
    cv_.notify_all();
  }

  // Waits until pred() (called under the lock) holds or the deadline passes.
  bool WaitFor(const std::function<bool()>& pred, double seconds = 30) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::duration<double>(seconds), pred);
  }

  bool WaitSubscribed(double seconds = 30) {
    return WaitFor([&] { return subscribed_ > 0; }, seconds);
  }

  // Next queued offer, or nullopt-like empty offer after the deadline.
  bool TakeOffer(v1::Offer* out, double seconds = 30) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return !offers_.empty(); })) return false;
    *out = offers_.front();
    offers_.pop_front();
    return true;
  }

  // Waits for an update of `task` in `state`; returns it (state unset on timeout).
  v1::TaskStatus WaitForState(const std::string& task, v1::TaskState state, double seconds = 30) {
    v1::TaskStatus found;
    WaitFor(
        [&] {
          for (const auto& u : updates_) {
            if (u.task_id().value() == task && u.state() == state) {
              found = u;
              return true;
            }
          }
          return false;
        },
        seconds);
    return found;
  }

  // Waits for a health update of `task` saying `healthy`; returns it (state
  // unset on timeout).
  v1::TaskStatus WaitForHealth(const std::string& task, bool healthy, double seconds = 30) {
    v1::TaskStatus found;
    WaitFor(
        [&] {
          for (const auto& u : updates_) {
            if (u.task_id().value() == task && u.has_healthy() && u.healthy() == healthy) {
              found = u;
              return true;
            }
          }
          return false;
        },
        seconds);
    return found;
  }

  // Waits for a terminal update of `task`; returns it.
  v1::TaskStatus WaitForTerminal(const std::string& task, double seconds = 30) {
    v1::TaskStatus found;
    WaitFor(
        [&] {
          auto it = latest_.find(task);
          if (it != latest_.end() && IsTerminalState(it->second.state())) {
            found = it->second;
            return true;
          }
          return false;
        },
        seconds);
    return found;
  }

  template <typename Fn>
  auto Locked(Fn fn) {
    std::lock_guard<std::mutex> lock(mu_);
    return fn();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::string framework_id_;
  int subscribed_ = 0;
  int disconnected_ = 0;
  std::deque<v1::Offer> offers_;
  std::vector<std::string> rescinded_;
  std::vector<v1::InverseOffer> inverse_offers_;
  std::vector<std::string> rescinded_inverse_;
  std::vector<v1::TaskStatus> updates_;
  std::map<std::string, v1::TaskStatus> latest_;
  std::vector<std::string> messages_;
  std::vector<std::string> errors_;
  std::vector<std::pair<std::string, std::string>> failures_;  // (agent, executor)
};

inline void AddScalar(google::protobuf::RepeatedPtrField<v1::Resource>* out, const std::string& name, double v,
                      const std::string& role = "*") {
  v1::Resource* r = out->Add();
  r->set_name(name);
  r->set_type(v1::Value::SCALAR);
  r->mutable_scalar()->set_value(v);
  if (role != "*") r->mutable_allocation_info()->set_role(role);
}

inline v1::TaskInfo ShellTask(const std::string& id, const v1::AgentID& agent, const std::string& cmd,
                              double cpus = 0.1, double mem = 16) {
  v1::TaskInfo t;
  t.set_name(id);
  t.mutable_task_id()->set_value(id);
  *t.mutable_agent_id() = agent;
  AddScalar(t.mutable_resources(), "cpus", cpus);
  AddScalar(t.mutable_resources(), "mem", mem);
  t.mutable_command()->set_value(cmd);
  return t;
}

inline v1::FrameworkInfo Framework(const std::string& name, bool partition_aware = false) {
  v1::FrameworkInfo fw;
  fw.set_name(name);
  if (partition_aware) fw.add_capabilities()->set_type(v1::FrameworkInfo::Capability::PARTITION_AWARE);
  return fw;
}

// Polls `pred` (about files or processes, which send no events) until it
// holds or `seconds` pass.
inline bool PollUntil(const std::function<bool()>& pred, double seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling, bounded by the deadline
  }
  return pred();
}

// Directory of the running test binary (the build's bin/ directory).
inline std::string BinDir() { return std::filesystem::read_symlink("/proc/self/exe").parent_path().string(); }

}  // namespace corral::testing
