// Records kept as znodes by one writer at a time — the master's ZooKeeper
// registry and the bundled frameworks' ZooKeeper stores: one node per
// record, every write one multi-op whose first operation checks the
// writer's own ephemeral node (`guard`), so that a writer that no longer
// leads cannot write. The nodes known to exist are remembered, so that a
// write knows a create from a set without asking ZooKeeper first.
//
// Threading: one owner; not safe to share between threads.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "corral/zookeeper/zk.h"

namespace corral::zk {

class RecordNodes {
 public:
  RecordNodes(Session* session, std::string guard) : session_(session), guard_(std::move(guard)) {}

  // A record's ID as a node name ('/', which a name cannot hold, and '%'
  // percent-encoded), and back.
  static std::string Name(absl::string_view id);
  static std::string Id(absl::string_view name);

  // Creates `path` and its parents where missing.
  absl::Status MakeDirs(const std::string& path);
  // The node's data; NotFound when it is absent.
  absl::StatusOr<std::string> Get(const std::string& path);
  // The children of `dir` with their data, by name; none when `dir` is absent.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Children(const std::string& dir);

  bool Known(const std::string& path) const { return known_.count(path) > 0; }
  // The nodes known under `dir`, at any depth, in order.
  std::vector<std::string> KnownUnder(const std::string& dir) const;
  // What a write found out otherwise (a node made or removed by another).
  void Learn(const std::string& path, bool exists);
  void Forget() { known_.clear(); }

  // The ops of one write; each sees what the ones before it create and delete.
  class Write {
   public:
    bool Exists(const std::string& path) const;
    void Upsert(const std::string& path, const std::string& data);  // create or set
    void Dir(const std::string& path);                              // an empty node, where missing
    // Create, even where the node exists: the whole write then fails with
    // AlreadyExists naming it (a fence: "one run per instant").
    void Create(const std::string& path, const std::string& data);
    void Delete(const std::string& path);  // where it exists
    // Every node under `dir` and `dir` itself, deepest first.
    void DeleteTree(const std::string& dir);
    bool empty() const { return ops_.empty(); }

   private:
    friend class RecordNodes;
    explicit Write(const RecordNodes* nodes) : nodes_(nodes) {}
    const RecordNodes* nodes_;
    std::set<std::string> added_, removed_;
    std::vector<Session::Op> ops_;
  };
  Write NewWrite() const { return Write(this); }
  // `write` as one guarded multi-op (nothing when empty); what it created
  // and deleted is remembered once it has succeeded.
  absl::Status Apply(const Write& write);

 private:
  Session* session_;
  std::string guard_;
  std::set<std::string> known_;
};

}  // namespace corral::zk
