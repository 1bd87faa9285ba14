// The agent's connection to the master: one gRPC bidirectional stream
// (AgentService.Connect) per registration attempt.
// Private to core/agent/src.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "corral/common/write_queue.h"
#include "corral/v1/internal.grpc.pb.h"

namespace corral {

// The agent's end of its stream to the master (gRPC callback API: no thread
// of its own). Messages it reads are handed to the agent's loop; the loop
// writes with Send().
//
// Writes wait in a WriteQueue. They start on the agent's thread, not in a
// gRPC reaction, so a hold keeps gRPC from finishing the call (OnDone) while a write might still
// start: it is released once the read side has ended and no write is in
// flight, after which Send() refuses.
class MasterLink : public grpc::ClientBidiReactor<v1::internal::AgentMessage, v1::internal::MasterMessage> {
 public:
  void Init(std::function<void(const v1::internal::MasterMessage&)> on_message,
            std::function<void(const std::string&)> on_done) {
    on_message_ = std::move(on_message);
    on_done_ = std::move(on_done);
  }

  void Start(std::shared_ptr<MasterLink> self, v1::internal::AgentService::Stub* stub,
             const v1::internal::AgentMessage& first, const std::string& authorization) {
    self_ = std::move(self);
    if (!authorization.empty()) ctx_.AddMetadata("authorization", authorization);
    stub->async()->Connect(&ctx_, this);
    AddHold();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.Push(first);
      NextLocked();
    }
    StartRead(&in_);
    StartCall();
  }
  bool Send(const v1::internal::AgentMessage& msg) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return false;
    if (queue_.Push(msg) == WriteQueue<v1::internal::AgentMessage>::Pushed::kStart) NextLocked();
    return true;
  }
  void Close() { ctx_.TryCancel(); }

 private:
  void NextLocked() {
    queue_.Start([this](const v1::internal::AgentMessage* m, grpc::WriteOptions options) { StartWrite(m, options); });
  }
  void OnWriteDone(bool ok) override {
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.Done();
      if (!ok) {
        queue_.Clear();
        closing_ = true;  // the stream is broken: no more writes
      }
      if (closing_) {
        release = !hold_released_;
        hold_released_ = true;
      } else {
        NextLocked();
      }
    }
    if (release) RemoveHold();
  }
  void OnReadDone(bool ok) override {
    if (ok) {
      on_message_(in_);
      StartRead(&in_);
      return;
    }
    // The read side is over (the master ended the stream, or it broke).
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      queue_.Clear();
      if (!queue_.writing() && !hold_released_) {
        hold_released_ = true;
        release = true;
      }
    }
    if (release) RemoveHold();
  }
  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<MasterLink> self;
    {
      std::lock_guard<std::mutex> lock(mu_);
      self = std::move(self_);
    }
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      on_done_("the master refused this agent's credential (" + status.error_message() + ")");
    } else {
      on_done_(status.ok() ? "the master closed the connection" : status.error_message());
    }
  }

  std::function<void(const v1::internal::MasterMessage&)> on_message_;
  std::function<void(const std::string&)> on_done_;
  grpc::ClientContext ctx_;
  std::mutex mu_;
  WriteQueue<v1::internal::AgentMessage> queue_ ABSL_GUARDED_BY(mu_);
  v1::internal::MasterMessage in_;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // no more writes will start
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<MasterLink> self_;
};

}  // namespace corral
