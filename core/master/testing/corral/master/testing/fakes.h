// Test doubles for driving a Master without a transport: an agent link and
// a scheduler sink that record what the master sends, and a registry that
// can be made to fail its writes (a full disk, say).
//
// Threading: the master calls Send on its loop thread; tests wait on the
// recordings from theirs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "corral/master/master.h"
#include "corral/master/registry.h"

namespace corral::testing {

// What the master sent, for a test to wait on.
template <typename Message>
class Recorder {
 public:
  void Add(const Message& m) {
    std::lock_guard<std::mutex> lock(mu_);
    got_.push_back(m);
    cv_.notify_all();
  }
  // The first message `match` accepts, waiting up to `seconds` for it.
  std::optional<Message> WaitFor(const std::function<bool(const Message&)>& match, double seconds = 10) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<Message> found;
    cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] {
      for (const Message& m : got_) {
        if (match(m)) {
          found = m;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::vector<Message> All() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }
  size_t Count(const std::function<bool(const Message&)>& match) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const Message& m : got_) n += match(m) ? 1 : 0;
    return n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Message> got_;
};

class RecordingLink : public AgentLink {
 public:
  Recorder<v1::internal::MasterMessage> out;
  std::atomic<bool> closed{false};
  bool Send(const v1::internal::MasterMessage& m) override {
    out.Add(m);
    return !closed;
  }
  void Close() override { closed = true; }
};

class RecordingSink : public SchedulerSink {
 public:
  Recorder<v1::scheduler::Event> out;
  std::atomic<bool> closed{false};
  bool Send(const v1::scheduler::Event& e) override {
    out.Add(e);
    return true;
  }
  void Close() override { closed = true; }
};

// Passes everything to `inner`, except that writes fail with Unavailable
// (as SQLite's "database or disk is full") while fail_writes is set.
class FaultyRegistry : public Registry {
 public:
  explicit FaultyRegistry(std::unique_ptr<Registry> inner) : inner_(std::move(inner)) {}
  std::atomic<bool> fail_writes{false};
  std::atomic<int> failed_writes{0};

  absl::StatusOr<RegistryState> Recover() override { return inner_->Recover(); }
  absl::Status AdmitAgent(const v1::AgentInfo& info, const AgentIdentity& identity) override {
    return Fail() ? Full() : inner_->AdmitAgent(info, identity);
  }
  absl::Status MarkAgentUnreachable(const std::string& id, double since) override {
    return Fail() ? Full() : inner_->MarkAgentUnreachable(id, since);
  }
  absl::Status RemoveAgent(const std::string& id) override { return Fail() ? Full() : inner_->RemoveAgent(id); }
  absl::Status AddFramework(const v1::FrameworkInfo& info) override {
    return Fail() ? Full() : inner_->AddFramework(info);
  }
  absl::Status RemoveFramework(const std::string& id) override { return Fail() ? Full() : inner_->RemoveFramework(id); }
  absl::Status PutOperatorState(const std::string& name, const std::string& value) override {
    return Fail() ? Full() : inner_->PutOperatorState(name, value);
  }
  absl::StatusOr<std::string> GetOperatorState(const std::string& name) override {
    return inner_->GetOperatorState(name);
  }

 private:
  bool Fail() {
    if (!fail_writes) return false;
    ++failed_writes;
    return true;
  }
  static absl::Status Full() {
    return absl::UnavailableError("cannot write to registry registry.db: database or disk is full");
  }
  std::unique_ptr<Registry> inner_;
};

// Calls for a scheduler in tests.
inline v1::scheduler::Call SubscribeCall(const std::string& name, const std::string& role = "*") {
  v1::scheduler::Call call;
  call.set_type(v1::scheduler::Call::SUBSCRIBE);
  auto* info = call.mutable_subscribe()->mutable_framework_info();
  info->set_user("test");
  info->set_name(name);
  info->add_roles(role);
  info->add_capabilities()->set_type(v1::FrameworkInfo::Capability::MULTI_ROLE);
  return call;
}

// `secret`: what the master issued with the ID (AgentRegistered.agent_secret).
inline v1::internal::AgentMessage RegisterAgentMessage(const std::string& hostname, const std::string& resources,
                                                       const std::string& reregister_as = "",
                                                       const std::string& secret = "") {
  v1::internal::AgentMessage msg;
  v1::AgentInfo* info = reregister_as.empty() ? msg.mutable_register_agent()->mutable_agent_info()
                                              : msg.mutable_reregister_agent()->mutable_agent_info();
  info->set_hostname(hostname);
  info->set_port(5051);
  if (!reregister_as.empty()) info->mutable_id()->set_value(reregister_as);
  if (!secret.empty()) msg.mutable_reregister_agent()->set_agent_secret(secret);
  Resources::Parse(resources)->ToProto(info->mutable_resources());
  return msg;
}

}  // namespace corral::testing
