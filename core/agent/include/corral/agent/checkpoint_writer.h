// The agent's checkpoint writes, off its event loop and committed in groups.
//
// Every write and removal under the agent's meta/ directory goes through one
// CheckpointWriter, in the order the agent issues them. Its thread takes all
// that is queued as one batch: the batch's files are written to temporaries,
// the filesystem is synced once (syncfs), the temporaries are renamed over
// their names, and the filesystem is synced once more, so that a batch of a
// hundred checkpoints costs two syncs rather than two hundred. Each
// operation's `done` runs after its batch is durable, on the writer's
// thread: whoever must wait for a checkpoint (an update forwarded, an
// executor's update acknowledged, a container let through its start gate)
// waits for that call, and nothing is acknowledged before it is on disk.
//
// Within a batch, later operations win: a file written twice is written
// once, a file written then removed is not written at all. A crash in the
// middle of a batch leaves each of its files old or new (never torn), which
// is what recovery reads; no `done` of that batch has run, so nothing that
// depends on it has been acknowledged.
//
// Threading: Write, Remove, RemoveTree, Barrier and Stop may be called from
// any thread (the agent calls them from its loop); `done` callbacks run on
// the writer's own thread, one at a time, in the order of their calls.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"

namespace corral {

class CheckpointWriter {
 public:
  using Done = std::function<void(const absl::Status&)>;

  // `sync_dir`: a directory on the filesystem the checkpoints live on; it is
  // what gets synced. Starts the writer's thread.
  explicit CheckpointWriter(const std::string& sync_dir);
  // Stop(), if not yet called.
  ~CheckpointWriter();

  // Replaces `path` with `contents` (an EncodeCheckpoint result), creating
  // its directory if need be. `sync`: durable before `done` runs; without
  // it the file is written in order but may be lost with the machine (the
  // agent's records of containers that die with it anyway).
  void Write(std::string path, std::string contents, bool sync, Done done = nullptr);
  // Removes the file `path` (and what earlier calls queued for it).
  void Remove(std::string path, Done done = nullptr);
  // Removes the directory `dir` and everything under it.
  void RemoveTree(std::string dir, Done done = nullptr);
  // `done` runs once everything queued before it is durable.
  void Barrier(Done done);

  // Finishes what is queued, then ends the thread. Later calls are refused:
  // their `done` gets Cancelled.
  void Stop();
  // Ends the thread as a crash would: what is queued and not yet begun is
  // dropped, its `done` called with Cancelled (so that start gates close).
  void Abandon();

  struct Stats {
    uint64_t operations = 0;  // writes, removals and barriers done
    uint64_t batches = 0;
    uint64_t syncs = 0;  // syncfs calls
  };
  Stats stats() const;

 private:
  struct Op {
    enum Kind { kWrite, kRemove, kRemoveTree, kBarrier } kind;
    std::string path;
    std::string contents;
    bool sync = false;
    Done done;
  };
  void Enqueue(Op op);
  void Run();
  void RunBatch(std::vector<Op>& batch);
  // Syncs the filesystem of sync_dir_; counts it.
  absl::Status SyncFilesystem();

  const std::string sync_dir_;
  int sync_fd_ = -1;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Op> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace corral
