// Server-side gRPC streams without a thread per stream.
//
// A ServerEventStream<T> is a callback-API write reactor over a WriteQueue:
// any thread may Send(); writes go out one at a time in order. The owner
// learns of the stream's end through SetOnDone (called once, on a gRPC
// thread). Used for scheduler subscriptions (master) and executor
// subscriptions (agent).
//
// A client that stops reading cannot make the queue grow without bound:
// once more than max_backlog_bytes wait, the call is cancelled and Send
// fails, as for an HTTP stream.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "corral/common/logging.h"
#include "corral/common/write_queue.h"

namespace corral {

template <typename Out>
class ServerEventStream : public grpc::ServerWriteReactor<Out> {
 public:
  static constexpr size_t kMaxBacklogBytes = 64 << 20;

  // `ctx` is the call's, so that a stream whose client fell behind can be
  // cancelled while a write to it is stuck.
  explicit ServerEventStream(grpc::CallbackServerContext* ctx = nullptr, size_t max_backlog_bytes = kMaxBacklogBytes)
      : ctx_(ctx), max_backlog_bytes_(max_backlog_bytes), queue_(max_backlog_bytes) {}

  // Returns false once the stream has finished, or fell too far behind (the
  // message is dropped).
  bool Send(const Out& msg) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_ || cut_) return false;
    switch (queue_.Push(msg)) {
      case WriteQueue<Out>::Pushed::kStart: StartNextLocked(); return true;
      case WriteQueue<Out>::Pushed::kQueued: return true;
      case WriteQueue<Out>::Pushed::kFull: break;
    }
    CORRAL_LOG(WARNING) << "gRPC stream fell more than " << max_backlog_bytes_ << " bytes behind; closing it";
    cut_ = true;
    queue_.Clear();
    close_status_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "the client fell too far behind");
    if (ctx_ != nullptr)
      ctx_->TryCancel();
    else if (!queue_.writing())
      FinishLocked();
    return false;
  }

  // Ends the stream after the queued messages are written.
  void Close(grpc::Status status = grpc::Status::OK) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_ || closing_) return;
    closing_ = true;
    close_status_ = status;
    if (!queue_.writing()) FinishLocked();
  }

  // Called once when gRPC is done with the stream; at once if it already is.
  void SetOnDone(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!done_) {
        on_done_ = std::move(fn);
        return;
      }
    }
    fn();
  }

  // The reactor deletes itself when gRPC is done with it; owners hold it
  // through a shared_ptr that is reset in on_done (see Keep()).
  void Keep(std::shared_ptr<ServerEventStream> self) { self_ = std::move(self); }

 private:
  void StartNextLocked() {
    bool started = queue_.Start([this](const Out* m, grpc::WriteOptions options) { this->StartWrite(m, options); });
    if (!started && closing_) FinishLocked();
  }
  void FinishLocked() {
    if (finished_) return;
    finished_ = true;
    this->Finish(close_status_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.Done();
    if (!ok || cut_) {
      queue_.Clear();
      if (!finished_) {
        finished_ = true;
        this->Finish(grpc::Status::CANCELLED);
      }
      return;
    }
    StartNextLocked();
  }
  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    queue_.Clear();
    close_status_ = grpc::Status::CANCELLED;
    // A write in flight completes (not ok) first, and finishes the call.
    if (!queue_.writing()) FinishLocked();
  }
  void OnDone() override {
    std::function<void()> done;
    std::shared_ptr<ServerEventStream> self;
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
      done_ = true;
      done = std::move(on_done_);
      self = std::move(self_);
    }
    if (done) done();
    // `self` drops the last owner reference here if nobody else holds one.
  }

  grpc::CallbackServerContext* ctx_;
  size_t max_backlog_bytes_;
  std::mutex mu_;
  WriteQueue<Out> queue_ ABSL_GUARDED_BY(mu_);
  bool cut_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status close_status_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_done_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<ServerEventStream> self_;
};

}  // namespace corral
