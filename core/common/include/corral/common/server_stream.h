// Server-side gRPC streams without a thread per stream.
//
// A ServerEventStream<T> is a callback-API write reactor with a queue: any
// thread may Send(); writes go out one at a time in order. The owner learns
// of the stream's end through the on_done callback (called once, on a gRPC
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

#include "corral/common/logging.h"

namespace corral {

template <typename Out>
class ServerEventStream : public grpc::ServerWriteReactor<Out> {
 public:
  static constexpr size_t kMaxBacklogBytes = 64 << 20;

  // `ctx` is the call's, so that a stream whose client fell behind can be
  // cancelled while a write to it is stuck.
  explicit ServerEventStream(grpc::CallbackServerContext* ctx = nullptr, size_t max_backlog_bytes = kMaxBacklogBytes)
      : ctx_(ctx), max_backlog_bytes_(max_backlog_bytes) {}

  // Returns false once the stream has finished, or fell too far behind (the
  // message is dropped).
  bool Send(const Out& msg) {
    size_t bytes = msg.ByteSizeLong();
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_ || cut_) return false;
    if (backlog_bytes_ + bytes > max_backlog_bytes_) {
      CORRAL_LOG(WARNING) << "gRPC stream fell more than " << max_backlog_bytes_ << " bytes behind; closing it";
      cut_ = true;
      queue_.clear();
      backlog_bytes_ = 0;
      close_status_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "the client fell too far behind");
      if (ctx_ != nullptr) ctx_->TryCancel();
      else if (!writing_) FinishLocked();
      return false;
    }
    backlog_bytes_ += bytes;
    queue_.push_back(msg);
    if (!writing_) StartNextLocked();
    return true;
  }

  // Ends the stream after the queued messages are written.
  void Close(grpc::Status status = grpc::Status::OK) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_ || closing_) return;
    closing_ = true;
    close_status_ = status;
    if (!writing_) FinishLocked();
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
    if (queue_.empty()) {
      if (closing_) FinishLocked();
      return;
    }
    writing_ = true;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    current_bytes_ = current_.ByteSizeLong();
    // More queued: let gRPC coalesce this write with the next ones.
    grpc::WriteOptions options;
    if (!queue_.empty()) options.set_buffer_hint();
    this->StartWrite(&current_, options);
  }
  void FinishLocked() {
    if (finished_) return;
    finished_ = true;
    this->Finish(close_status_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    backlog_bytes_ -= std::min(backlog_bytes_, current_bytes_);
    if (!ok || cut_) {
      queue_.clear();
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
    queue_.clear();
    close_status_ = grpc::Status::CANCELLED;
    // A write in flight completes (not ok) first, and finishes the call.
    if (!writing_) FinishLocked();
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
  std::deque<Out> queue_;
  Out current_;
  size_t current_bytes_ = 0;
  size_t backlog_bytes_ = 0;  // queued and in flight
  bool cut_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool done_ = false;
  grpc::Status close_status_;
  std::function<void()> on_done_;
  std::shared_ptr<ServerEventStream> self_;
};

}  // namespace corral
