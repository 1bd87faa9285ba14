// The agent's status update manager: for each task, the stream of updates
// produced and not yet acknowledged by its framework, head first (Mesos's
// StatusUpdateManager). Only the head is in flight: it is forwarded to the
// master, retried with a doubling backoff until the framework acknowledges
// it, and only then does the next one go. Updates reach the framework in
// order and none is lost while the agent keeps its checkpoints.
//
// It owns no I/O: the agent injects how to forward an update and how to
// write a stream down. `checkpoint(key)` is called after every change of a
// stream and before anything of it is forwarded, so that an update a
// framework may have seen is never forgotten by a restart.
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
    // The stream of `key` changed (Pending(key) is its new content).
    std::function<void(const Key& key)> checkpoint;
  };

  // Retries start at `retry_min` after a forward and double up to
  // `retry_max`, in seconds of `clock`'s steady time.
  StatusUpdateManager(Hooks hooks, Clock* clock, double retry_min, double retry_max);

  // Adds `status` to its task's stream, checkpoints, and forwards it if it
  // is the head. A queued update (not the head) of the same non-terminal
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
    std::deque<v1::TaskStatus> pending;  // head is in flight
    double next_retry = 0;
    double backoff = 0;
  };
  void ForwardHead(const Key& key, Stream& stream);

  Hooks hooks_;
  Clock* clock_;
  double retry_min_, retry_max_;
  std::map<Key, Stream> streams_;
};

}  // namespace corral
