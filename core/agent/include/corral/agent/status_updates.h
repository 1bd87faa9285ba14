// The agent's status update manager: for each task, the stream of updates
// produced and not yet acknowledged by its framework, head first (Mesos's
// StatusUpdateManager). Only the head is in flight: it is forwarded to the
// master, retried with a doubling backoff until the framework acknowledges
// it, and only then does the next one go. Updates reach the framework in
// order and none is lost while the agent keeps its checkpoints.
//
// It owns no I/O: the agent injects how to forward an update and how to
// write a stream down. `checkpoint(key, durable)` is called after every
// change of a stream, and an update is forwarded only once a checkpoint
// holding it has called `durable`, so that an update a framework may have
// seen is never forgotten by a restart. `durable` may be called at once
// (nothing to write) or later, from the same thread.
//
// Threading: one thread (the agent's loop) calls everything.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "corral/common/clock.h"
#include "corral/v1/corral.pb.h"

namespace corral {

class StatusUpdateManager {
 public:
  using Key = std::pair<std::string, std::string>;  // framework ID, task ID

  struct Hooks {
    // Sends `head` of a framework's task stream to the master; `latest` is
    // the state of the stream's newest update (Mesos's latest_state).
    std::function<void(const std::string& framework_id, const v1::TaskStatus& head, v1::TaskState latest)> forward;
    // The stream of `key` changed (Pending(key) is its new content); call
    // `durable` once that content is written down.
    std::function<void(const Key& key, std::function<void()> durable)> checkpoint;
  };

  // Retries start at `retry_min` after a forward and double up to
  // `retry_max`, in seconds of `clock`'s steady time.
  StatusUpdateManager(Hooks hooks, Clock* clock, double retry_min, double retry_max);

  // Adds `status` to its task's stream, checkpoints, and forwards it once
  // durable if it is the head. A queued update (not the head) of the same non-terminal
  // state is replaced rather than followed (a health report, say), so that
  // a framework that does not acknowledge cannot make the stream grow.
  void Produce(const std::string& framework_id, v1::TaskStatus status);

  enum class Acked {
    kIgnored,   // no such head: a stale or duplicate acknowledgement
    kNext,      // the head is gone and the next update was forwarded
    kDrained,   // the stream is empty; the last update was not terminal
    kFinished,  // the stream is empty and the task's terminal update acknowledged
  };
  // The framework acknowledged the update `uuid` of `key`.
  Acked Acknowledge(const Key& key, const std::string& uuid);

  // Forwards each head whose retry is due. The agent calls it periodically
  // while it is registered.
  void RetryDue();
  // Forwards the heads of every stream (or of one framework's) now: after
  // (re)registration, or when a framework resubscribes (then its backoff
  // starts again from retry_min).
  void ForwardAll();
  void ForwardFramework(const std::string& framework_id);

  // Recovery: a checkpointed stream, taken as it was (nothing is forwarded
  // until the agent registers).
  void Restore(const Key& key, std::vector<v1::TaskStatus> pending);
  // The framework is gone: its streams are dropped.
  void ForgetFramework(const std::string& framework_id);

  // The stream of `key`, head first; empty when none.
  const std::deque<v1::TaskStatus>& Pending(const Key& key) const;
  // Whether the stream of `key` holds an update with this uuid.
  bool Holds(const Key& key, const std::string& uuid) const;
  // Updates produced and not yet acknowledged, over all tasks.
  size_t size() const;

 private:
  struct Stream {
    std::deque<v1::TaskStatus> pending;  // head is in flight once durable
    std::deque<uint64_t> changes;        // for each of pending, the change that added it
    uint64_t durable = 0;                // the latest change known to be written down
    bool sent = false;                   // the head has been forwarded
    double next_retry = 0;
    double backoff = 0;
  };
  // Checkpoints the stream as it is after `change`.
  void Checkpoint(const Key& key, uint64_t change);
  bool HeadDurable(const Stream& stream) const;
  void ForwardHead(const Key& key, Stream& stream);
  // Forwards the head if it is durable and not yet sent.
  void MaybeForward(const Key& key, Stream& stream);

  Hooks hooks_;
  Clock* clock_;
  double retry_min_, retry_max_;
  std::map<Key, Stream> streams_;
  uint64_t last_change_ = 0;  // numbers changes over all streams, so none is reused
};

}  // namespace corral
