// A ZooKeeper session for Corral's masters, agents and schedulers, over
// Apache ZooKeeper's C client (libzookeeper_mt), and the `zk://` URLs that
// name an ensemble and a path as Mesos operators write them:
//   zk://[user:pass@]host1:2181,host2:2181/corral
//
// Threading: the C client runs two threads of its own (I/O and
// completions). Watch callbacks run on its completion thread and must not
// block it: every callback given here is expected to post work to a loop of
// its own and return. The blocking operations (Create, Get, ...) may be
// called from any other thread, concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

typedef struct _zhandle zhandle_t;

namespace corral::zk {

struct Url {
  std::string servers;      // "h1:2181,h2:2181", as the C client takes it
  std::string path;         // "/corral": absolute, no trailing slash
  std::string credentials;  // "user:pass" for digest auth; empty for none
};

// Refuses anything that is not zk://servers/path, naming what is wrong.
absl::StatusOr<Url> ParseUrl(absl::string_view url);
bool IsZkUrl(absl::string_view url);

// One ZooKeeper session. It reconnects by itself while the session lives;
// once it has expired (told by the server, or noticed locally: disconnected
// for longer than the negotiated timeout) it stays expired, and the owner
// replaces it with a new Session.
class Session {
 public:
  using Watcher = std::function<void()>;

  // Connects and waits up to `connect_timeout` seconds for the session.
  static absl::StatusOr<std::unique_ptr<Session>> Connect(const Url& url, double session_timeout,
                                                          double connect_timeout);
  ~Session();  // never on the client's completion thread (a watcher)

  // True once the session is gone: expired, or disconnected for longer than
  // its timeout (so the server has expired it or is about to).
  bool Expired() const;
  // Asks the server something small without waiting for the answer; each
  // answer counts as word from it (see SinceHeard).
  void Heartbeat();
  // Seconds since the last answer to a Heartbeat (or since connecting):
  // the server has heard from this session at least that recently, so it
  // cannot expire the session before SinceHeard() reaches the timeout.
  double SinceHeard() const;
  // Called (on the completion thread) when the session connects again after
  // a disconnection, and when it expires.
  void OnStateChange(Watcher fn);
  int64_t id() const;
  double timeout() const;  // negotiated, seconds

  // ACL for new nodes: with credentials, the creator may do anything and
  // (`world_readable`) everyone may read; without, everyone may do anything.
  absl::StatusOr<std::string> Create(const std::string& path, const std::string& data, bool ephemeral, bool sequential,
                                     bool world_readable);
  // Creates `path` and its parents as empty persistent nodes where missing.
  absl::Status CreatePath(const std::string& path, bool world_readable);
  // NotFound when the node is absent. `watch`, if set, fires once when the
  // node changes or goes.
  absl::StatusOr<std::string> Get(const std::string& path, Watcher watch = nullptr);
  // Whether the node exists; `watch` fires once when that changes.
  absl::StatusOr<bool> Exists(const std::string& path, Watcher watch = nullptr, int64_t* ephemeral_owner = nullptr);
  // Child names; `watch` fires once when the set changes (or the node goes).
  absl::StatusOr<std::vector<std::string>> Children(const std::string& path, Watcher watch = nullptr);
  absl::Status Delete(const std::string& path);

  // One atomic multi-op; it fails as a whole, and first of all when
  // `guard` (an ephemeral node of this session) is gone.
  struct Op {
    enum Kind { kCreate, kSet, kDelete } kind;
    std::string path;
    std::string data;
  };
  absl::Status Multi(const std::string& guard, const std::vector<Op>& ops);

 private:
  Session() = default;
  static void OnSessionEvent(zhandle_t* zh, int type, int state, const char* path, void* ctx);
  static void OnWatch(zhandle_t* zh, int type, int state, const char* path, void* ctx);
  void* ArmWatch(Watcher fn);
  const void* Acl(bool world_readable) const;

  zhandle_t* zh_ = nullptr;
  bool auth_ = false;
  mutable std::mutex mu_;
  int state_ = 0;
  bool expired_ = false;
  double disconnected_since_ = 0;      // steady seconds; 0 while connected
  std::atomic<double> last_heard_{0};  // steady seconds
  Watcher on_state_;
  std::set<Watcher*> watches_;  // armed and not yet fired; freed on close
};

// Maps a ZooKeeper return code to a Status naming `what` was attempted.
absl::Status ToStatus(int rc, const std::string& what);

// The leading master among the `json.info_NNNNNNNNNN` children of a path:
// the one with the smallest sequence number, as Mesos and its clients pick it.
std::optional<std::string> LeaderNode(const std::vector<std::string>& children);

}  // namespace corral::zk
