#include "corral/agent/checkpoint_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "corral/agent/checkpoint.h"

namespace corral {

namespace fs = std::filesystem;

namespace {

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Writes the temporary of `path`, creating its directory if it is missing.
absl::Status WriteTemporary(const std::string& path, const std::string& contents) {
  std::string tmp = path + ".tmp";
  absl::Status s = WriteWholeFile(tmp, contents, false);
  std::error_code ec;
  if (s.ok() || fs::exists(Parent(path), ec)) return s;
  fs::create_directories(Parent(path), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", Parent(path), ": ", ec.message()));
  return WriteWholeFile(tmp, contents, false);
}

}  // namespace

CheckpointWriter::CheckpointWriter(const std::string& sync_dir) : sync_dir_(sync_dir) {
  sync_fd_ = ::open(sync_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  thread_ = std::thread([this] { Run(); });
}

CheckpointWriter::~CheckpointWriter() {
  Stop();
  if (sync_fd_ >= 0) ::close(sync_fd_);
}

void CheckpointWriter::Write(std::string path, std::string contents, bool sync, Done done) {
  Enqueue({Op::kWrite, std::move(path), std::move(contents), sync, std::move(done)});
}

void CheckpointWriter::Remove(std::string path, Done done) {
  Enqueue({Op::kRemove, std::move(path), {}, false, std::move(done)});
}

void CheckpointWriter::RemoveTree(std::string dir, Done done) {
  Enqueue({Op::kRemoveTree, std::move(dir), {}, false, std::move(done)});
}

void CheckpointWriter::Barrier(Done done) { Enqueue({Op::kBarrier, {}, {}, false, std::move(done)}); }

void CheckpointWriter::Enqueue(Op op) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(op));
      wake_.notify_one();
      return;
    }
  }
  if (op.done)
    op.done(absl::CancelledError(absl::StrCat("the checkpoint writer has stopped; ", op.path, " not written")));
}

void CheckpointWriter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void CheckpointWriter::Abandon() {
  std::vector<Op> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    abandoned_ = true;
    dropped.swap(queue_);
    wake_.notify_one();
  }
  for (Op& op : dropped) {
    if (op.done) op.done(absl::CancelledError("the agent stopped before this checkpoint was written"));
  }
  if (thread_.joinable()) thread_.join();
}

CheckpointWriter::Stats CheckpointWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CheckpointWriter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait(lock, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, and nothing left to do
    std::vector<Op> batch;
    batch.swap(queue_);
    lock.unlock();
    RunBatch(batch);
    lock.lock();
  }
}

absl::Status CheckpointWriter::SyncFilesystem() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.syncs;
  }
  if (sync_fd_ < 0) {
    return absl::InternalError(absl::StrCat("cannot sync checkpoints: ", sync_dir_, " could not be opened"));
  }
  if (::syncfs(sync_fd_) != 0) {
    return absl::InternalError(absl::StrCat("cannot sync the filesystem of ", sync_dir_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void CheckpointWriter::RunBatch(std::vector<Op>& batch) {
  constexpr size_t kNone = static_cast<size_t>(-1);
  std::vector<absl::Status> result(batch.size());
  // An operation overtaken by a later one in the batch (a write written
  // again, or removed) finishes as that one does.
  std::vector<size_t> overtaken_by(batch.size(), kNone);
  // Files whose temporary is written, waiting for their rename: path -> op.
  std::map<std::string, size_t> staged;
  bool sync = false;
  auto overtake = [&](std::map<std::string, size_t>::iterator it, size_t by) {
    overtaken_by[it->second] = by;
    return staged.erase(it);
  };

  for (size_t i = 0; i < batch.size(); ++i) {
    Op& op = batch[i];
    switch (op.kind) {
      case Op::kWrite: {
        sync |= op.sync;
        if (auto it = staged.find(op.path); it != staged.end()) overtake(it, i);
        result[i] = WriteTemporary(op.path, op.contents);
        if (result[i].ok()) staged[op.path] = i;
        break;
      }
      case Op::kRemove: {
        if (auto it = staged.find(op.path); it != staged.end()) {
          ::unlink((op.path + ".tmp").c_str());
          overtake(it, i);
        }
        if (::unlink(op.path.c_str()) != 0 && errno != ENOENT) {
          result[i] = absl::InternalError(absl::StrCat("cannot remove ", op.path, ": ", std::strerror(errno)));
        }
        break;
      }
      case Op::kRemoveTree: {
        std::string prefix = op.path + "/";
        for (auto it = staged.lower_bound(prefix); it != staged.end() && absl::StartsWith(it->first, prefix);) {
          it = overtake(it, i);
        }
        std::error_code ec;
        fs::remove_all(op.path, ec);
        if (ec) result[i] = absl::InternalError(absl::StrCat("cannot remove ", op.path, ": ", ec.message()));
        break;
      }
      case Op::kBarrier: break;
    }
  }

  // The temporaries' contents are on disk before any name points at them,
  // so that a crash leaves each file whole, old or new.
  absl::Status contents = (sync && !staged.empty()) ? SyncFilesystem() : absl::OkStatus();
  for (const auto& [path, i] : staged) {
    std::string tmp = path + ".tmp";
    if (!contents.ok()) {
      result[i] = contents;
      ::unlink(tmp.c_str());
    } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
      result[i] = absl::InternalError(absl::StrCat("cannot rename over ", path, ": ", std::strerror(errno)));
      ::unlink(tmp.c_str());
    }
  }
  // And the names (new files, renames, removals) are durable too.
  absl::Status durable = contents;
  if (sync && contents.ok()) durable = SyncFilesystem();
  if (!durable.ok()) {
    for (size_t i = 0; i < batch.size(); ++i) {
      if ((batch[i].kind == Op::kWrite && batch[i].sync) || batch[i].kind == Op::kBarrier) result[i].Update(durable);
    }
  }

  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.operations += batch.size();
    ++stats_.batches;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].done) continue;
    size_t last = i;
    while (overtaken_by[last] != kNone) last = overtaken_by[last];
    batch[i].done(result[last]);
  }
}

}  // namespace corral
