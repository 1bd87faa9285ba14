// Server-side gRPC streams without a thread per stream.
//
// A ServerEventStream<T> is a callback-API write reactor with a queue: any
// thread may Send(); writes go out one at a time in order. The owner learns
// of the stream's end through the on_done callback (called once, on a gRPC
// thread). Used for scheduler subscriptions (master) and executor
// subscriptions (agent); master<->agent streams use ServerBidiStream.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include <grpcpp/grpcpp.h>

namespace corral {

template <typename Out>
class ServerEventStream : public grpc::ServerWriteReactor<Out> {
 public:
  // Returns false once the stream has finished (the message is dropped).
  bool Send(const Out& msg) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return false;
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
    if (!ok) {
      queue_.clear();
      if (!finished_) {
        finished_ = true;
        this->Finish(grpc::Status::CANCELLED);
      }
      return;
    }
    StartNextLocked();
  }
  void OnCancel() override { Close(grpc::Status::CANCELLED); }
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

  std::mutex mu_;
  std::deque<Out> queue_;
  Out current_;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool done_ = false;
  grpc::Status close_status_;
  std::function<void()> on_done_;
  std::shared_ptr<ServerEventStream> self_;
};

}  // namespace corral
