// A simulated agent for benchmarks: one gRPC stream over the real agent
// protocol, no thread of its own. It registers (or reregisters with
// synthetic running tasks), answers pings, and reports every task it is
// given as TASK_RUNNING, and every task it is told to kill as TASK_KILLED.
// A task whose command is "true" is TASK_FINISHED right after it runs.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "corral/common/ids.h"
#include "corral/common/resources.h"
#include "corral/v1/internal.grpc.pb.h"

namespace corral {

using v1::internal::AgentMessage;
using v1::internal::MasterMessage;

// Counted over every SimAgent of the process.
inline std::atomic<int> g_registered{0};
inline std::atomic<int> g_running{0};

class SimAgent : public grpc::ClientBidiReactor<AgentMessage, MasterMessage> {
 public:
  // Registers as a new agent, or (with `agent_id`) reregisters reporting
  // `tasks` running tasks of framework `framework_id`.
  // `secret`: the one issued with `agent_id` (agent_secret() of the run
  // that registered it).
  void Start(v1::internal::AgentService::Stub* stub, int index, const std::string& agent_id = "", int tasks = 0,
             const std::string& framework_id = "", const std::string& secret = "") {
    stub->async()->Connect(&ctx_, this);
    AgentMessage reg;
    v1::AgentInfo* info = agent_id.empty() ? reg.mutable_register_agent()->mutable_agent_info()
                                           : reg.mutable_reregister_agent()->mutable_agent_info();
    info->set_hostname("sim-" + std::to_string(index));
    info->set_port(5051);
    Resources::Parse("cpus:8;mem:16384;disk:100000;ports:[31000-32000]")->ToProto(info->mutable_resources());
    if (!agent_id.empty()) {
      info->mutable_id()->set_value(agent_id);
      reg.mutable_reregister_agent()->set_agent_secret(secret);
      for (int i = 0; i < tasks; ++i) {
        v1::Task* t = reg.mutable_reregister_agent()->add_tasks();
        std::string id = absl::StrCat("task-", index, "-", i);
        t->set_name(id);
        t->mutable_task_id()->set_value(id);
        t->mutable_framework_id()->set_value(framework_id);
        t->mutable_agent_id()->set_value(agent_id);
        t->set_state(v1::TASK_RUNNING);
        Resources::Parse("cpus:0.1;mem:32")->ToProto(t->mutable_resources());
        v1::TaskStatus* st = t->add_statuses();
        *st->mutable_task_id() = t->task_id();
        st->set_state(v1::TASK_RUNNING);
      }
    }
    Send(reg);
    StartRead(&in_);
    StartCall();
  }
  void Send(const AgentMessage& m) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(m);
    if (!writing_) Next();
  }

 private:
  void Next() {
    if (queue_.empty()) return;
    writing_ = true;
    out_ = std::move(queue_.front());
    queue_.pop_front();
    StartWrite(&out_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (ok) Next();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (in_.has_registered()) {
      agent_id_ = in_.registered().agent_id().value();
      if (!in_.registered().agent_secret().empty()) agent_secret_ = in_.registered().agent_secret();
      ++g_registered;
    } else if (in_.has_ping()) {
      AgentMessage pong;
      pong.mutable_pong()->set_sequence(in_.ping().sequence());
      Send(pong);
    } else if (in_.has_run_task()) {
      Report(in_.run_task().framework().id(), in_.run_task().task().task_id(), v1::TASK_RUNNING);
      ++g_running;
      // "true" ends at once (batch's benchmarks); anything else runs until killed.
      if (in_.run_task().task().command().value() == "true") {
        Report(in_.run_task().framework().id(), in_.run_task().task().task_id(), v1::TASK_FINISHED);
      }
    } else if (in_.has_kill_task()) {
      Report(in_.kill_task().framework_id(), in_.kill_task().task_id(), v1::TASK_KILLED);
    }
    StartRead(&in_);
  }
  void Report(const v1::FrameworkID& framework, const v1::TaskID& task, v1::TaskState state) {
    AgentMessage up;
    auto* su = up.mutable_status_update();
    *su->mutable_framework_id() = framework;
    v1::TaskStatus* st = su->mutable_status();
    *st->mutable_task_id() = task;
    st->set_state(state);
    st->set_source(v1::TaskStatus::SOURCE_EXECUTOR);
    st->mutable_agent_id()->set_value(agent_id_);
    st->set_uuid(NewUuidBytes());
    st->set_timestamp(NowSeconds());
    su->set_latest_state(state);
    Send(up);
  }
  void OnDone(const grpc::Status&) override { done_ = true; }

 public:
  const std::string& agent_id() const { return agent_id_; }
  const std::string& agent_secret() const { return agent_secret_; }
  bool done() const { return done_; }

 private:
  grpc::ClientContext ctx_;
  std::mutex mu_;
  std::deque<AgentMessage> queue_;
  AgentMessage out_;
  MasterMessage in_;
  bool writing_ = false;
  std::string agent_id_;
  std::string agent_secret_;
  std::atomic<bool> done_{false};
};

}  // namespace corral
