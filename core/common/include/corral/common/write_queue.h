// The write side of a gRPC callback stream: gRPC allows one write in flight
// per stream, so messages sent while one is in flight wait here, in order,
// and go out one at a time, each with a buffer hint while more are queued
// (gRPC then coalesces them into fewer frames). Every stream Corral writes
// has one: scheduler and executor subscriptions (ServerEventStream), the
// master's end of an agent's stream (master_server.cc) and the agent's end
// (master_link.h). What each does when its stream ends stays its own.
//
// Threading: none of its own. The owning reactor calls it under its mutex,
// from Send() on any thread and from OnWriteDone() on gRPC's.
#pragma once

#include <cstddef>
#include <deque>
#include <limits>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace corral {

template <typename Message>
class WriteQueue {
 public:
  // Without a limit, by default; a subscription bounds what a client that
  // stopped reading can make it hold.
  explicit WriteQueue(size_t max_backlog_bytes = std::numeric_limits<size_t>::max())
      : max_backlog_bytes_(max_backlog_bytes) {}

  enum class Pushed {
    kStart,   // nothing was in flight: the caller starts the write, Start()
    kQueued,  // behind the write in flight
    kFull,    // over max_backlog_bytes: dropped, and the caller should end the stream
  };
  Pushed Push(Message msg) {
    size_t bytes = msg.ByteSizeLong();
    if (backlog_bytes_ + bytes > max_backlog_bytes_) return Pushed::kFull;
    backlog_bytes_ += bytes;
    queue_.push_back(std::move(msg));
    return writing_ ? Pushed::kQueued : Pushed::kStart;
  }

  // Takes the next message into flight and starts its write on `stream`
  // (a reactor's StartWrite). False, and nothing started, if none waits.
  template <typename StartWrite>
  bool Start(StartWrite&& start_write) {
    if (queue_.empty()) return false;
    writing_ = true;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    current_bytes_ = current_.ByteSizeLong();
    grpc::WriteOptions options;
    if (!queue_.empty()) options.set_buffer_hint();
    start_write(&current_, options);
    return true;
  }

  // The write in flight completed (OnWriteDone).
  void Done() {
    writing_ = false;
    backlog_bytes_ -= std::min(backlog_bytes_, current_bytes_);
    current_bytes_ = 0;
  }

  // Drops what waits (the stream broke or is being cut); a write in flight
  // still completes.
  void Clear() {
    queue_.clear();
    backlog_bytes_ = writing_ ? current_bytes_ : 0;
  }

  bool writing() const { return writing_; }
  bool empty() const { return queue_.empty(); }
  size_t backlog_bytes() const { return backlog_bytes_; }

 private:
  size_t max_backlog_bytes_;
  std::deque<Message> queue_;
  Message current_;  // the message in flight: gRPC reads it until the write completes
  size_t current_bytes_ = 0;
  size_t backlog_bytes_ = 0;  // queued and in flight
  bool writing_ = false;
};

}  // namespace corral
