#include "corral/zookeeper/zk.h"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <thread>

#include <zookeeper/zookeeper.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "corral/common/logging.h"

namespace corral::zk {

namespace {

double SteadyNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The C client logs a line per connection attempt, several a second while
// a server is down. Its warnings and errors go to Corral's log, at most one
// line every 10 s, with a count of those left out.
void ClientLog(const char* message) {
  static std::mutex mu;
  static double last = 0;
  static int skipped = 0;
  std::lock_guard<std::mutex> lock(mu);
  double now = SteadyNow();
  if (last != 0 && now - last < 10) {
    ++skipped;
    return;
  }
  std::string line(message);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (skipped > 0) absl::StrAppend(&line, " (", skipped, " more ZooKeeper client messages in the last 10 s)");
  CORRAL_LOG(WARNING) << "ZooKeeper client: " << line;
  last = now;
  skipped = 0;
}

void QuietClientLog() {
  static std::once_flag once;
  std::call_once(once, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); });
}

struct ACL kReadAll[] = {{ZOO_PERM_READ, {const_cast<char*>("world"), const_cast<char*>("anyone")}},
                         {ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}}};
struct ACL_vector kWorldReadCreatorAll = {2, kReadAll};

}  // namespace

bool IsZkUrl(absl::string_view url) { return absl::StartsWith(url, "zk://"); }

absl::StatusOr<Url> ParseUrl(absl::string_view url) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", url, "' is not a ZooKeeper URL (zk://[user:pass@]host:port[,host:port...]/path): ", why));
  };
  if (!IsZkUrl(url)) return bad("it does not start with zk://");
  absl::string_view rest = url.substr(5);
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) return bad("it has no path");
  absl::string_view authority = rest.substr(0, slash);
  Url out;
  out.path = std::string(rest.substr(slash));
  while (out.path.size() > 1 && out.path.back() == '/') out.path.pop_back();
  if (out.path == "/") return bad("the path must name a node, not the root");
  if (absl::StrContains(out.path, "//")) return bad("the path has an empty component");
  if (size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    out.credentials = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
    if (out.credentials.find(':') == std::string::npos) return bad("credentials must be user:pass");
  }
  if (authority.empty()) return bad("it names no server");
  for (absl::string_view server : absl::StrSplit(authority, ',')) {
    size_t colon = server.rfind(':');
    int port = 0;
    if (server.empty() || colon == 0 || colon == absl::string_view::npos ||
        !absl::SimpleAtoi(server.substr(colon + 1), &port) || port < 1 || port > 65535) {
      return bad(absl::StrCat("server '", server, "' is not host:port"));
    }
  }
  out.servers = std::string(authority);
  return out;
}

absl::Status ToStatus(int rc, const std::string& what) {
  if (rc == ZOK) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", zerror(rc));
  switch (rc) {
    case ZNONODE: return absl::NotFoundError(msg);
    case ZNODEEXISTS: return absl::AlreadyExistsError(msg);
    case ZNOAUTH:
    case ZAUTHFAILED: return absl::PermissionDeniedError(msg);
    case ZBADVERSION:
    case ZNOTEMPTY: return absl::FailedPreconditionError(msg);
    case ZBADARGUMENTS: return absl::InvalidArgumentError(msg);
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE:
    case ZCLOSING: return absl::UnavailableError(msg);
    default: return absl::InternalError(msg);
  }
}

std::optional<std::string> LeaderNode(const std::vector<std::string>& children) {
  std::optional<std::string> best;
  for (const auto& c : children) {
    if (!absl::StartsWith(c, "json.info_")) continue;
    // Sequence suffixes are fixed-width, so names sort as their numbers do.
    if (!best || c < *best) best = c;
  }
  return best;
}

void Session::OnSessionEvent(zhandle_t*, int type, int state, const char*, void* ctx) {
  if (type != ZOO_SESSION_EVENT) return;
  auto* s = static_cast<Session*>(ctx);
  Watcher notify;
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    s->state_ = state;
    if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
      s->expired_ = true;
    } else if (state == ZOO_CONNECTED_STATE) {
      s->disconnected_since_ = 0;
      s->last_heard_ = SteadyNow();
    } else if (s->disconnected_since_ == 0) {
      s->disconnected_since_ = SteadyNow();
    }
    if (state == ZOO_CONNECTED_STATE || s->expired_) notify = s->on_state_;
  }
  if (notify) notify();
}

void Session::OnWatch(zhandle_t* zh, int type, int, const char*, void* ctx) {
  // Session events reach every armed watch without consuming it; only the
  // event it was armed for does.
  if (type == ZOO_SESSION_EVENT) return;
  auto* fn = static_cast<Watcher*>(ctx);
  auto* s = static_cast<Session*>(const_cast<void*>(zoo_get_context(zh)));
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    if (s->watches_.erase(fn) == 0) return;
  }
  (*fn)();
  delete fn;
}

void* Session::ArmWatch(Watcher fn) {
  auto* w = new Watcher(std::move(fn));
  std::lock_guard<std::mutex> lock(mu_);
  watches_.insert(w);
  return w;
}

absl::StatusOr<std::unique_ptr<Session>> Session::Connect(const Url& url, double session_timeout,
                                                          double connect_timeout) {
  QuietClientLog();
  std::unique_ptr<Session> s(new Session());
  s->zh_ = zookeeper_init2(url.servers.c_str(), &Session::OnSessionEvent, static_cast<int>(session_timeout * 1000),
                           nullptr, s.get(), 0, &ClientLog);
  if (s->zh_ == nullptr) {
    // Fails at once only for what retrying cannot fix, such as a host that
    // does not resolve at all; DNS trouble later on is retried by the client.
    return absl::UnavailableError(
        absl::StrCat("cannot start a ZooKeeper client for ", url.servers, ": ", std::strerror(errno)));
  }
  double deadline = SteadyNow() + connect_timeout;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(s->mu_);
      if (s->state_ == ZOO_CONNECTED_STATE) {
        s->last_heard_ = SteadyNow();
        break;
      }
      if (s->expired_)
        return absl::UnavailableError(absl::StrCat("ZooKeeper at ", url.servers, " refused the session"));
    }
    if (SteadyNow() > deadline) {
      return absl::UnavailableError(
          absl::StrCat("cannot reach ZooKeeper at ", url.servers, " within ", connect_timeout, " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!url.credentials.empty()) {
    struct AuthWait {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      int rc = 0;
    };
    auto wait = std::make_shared<AuthWait>();
    auto* keep = new std::shared_ptr<AuthWait>(wait);
    int rc = zoo_add_auth(
        s->zh_, "digest", url.credentials.data(), static_cast<int>(url.credentials.size()),
        [](int rc, const void* data) {
          auto* w = static_cast<std::shared_ptr<AuthWait>*>(const_cast<void*>(data));
          {
            std::lock_guard<std::mutex> lock((*w)->mu);
            (*w)->done = true;
            (*w)->rc = rc;
          }
          (*w)->cv.notify_all();
          delete w;
        },
        keep);
    if (rc != ZOK) {
      delete keep;
      return ToStatus(rc, "authenticating with ZooKeeper");
    }
    std::unique_lock<std::mutex> lock(wait->mu);
    if (!wait->cv.wait_for(lock, std::chrono::duration<double>(connect_timeout), [&] { return wait->done; })) {
      return absl::UnavailableError("ZooKeeper did not answer the authentication");
    }
    if (wait->rc != ZOK) return ToStatus(wait->rc, "authenticating with ZooKeeper");
    s->auth_ = true;
  }
  return s;
}

Session::~Session() {
  if (zh_) zookeeper_close(zh_);  // joins the client's threads: no watch runs after this
  for (Watcher* w : watches_) delete w;
}

bool Session::Expired() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (expired_) return true;
  return disconnected_since_ > 0 && SteadyNow() - disconnected_since_ > timeout();
}

void Session::Heartbeat() {
  double sent = SteadyNow();
  auto* ctx = new std::pair<Session*, double>(this, sent);
  int rc = zoo_aexists(
      zh_, "/", 0,
      [](int rc, const struct Stat*, const void* data) {
        auto* p = static_cast<std::pair<Session*, double>*>(const_cast<void*>(data));
        // The server answered a request sent at p->second: it had heard
        // from this session then (a conservative mark: sent, not received).
        if (rc == ZOK && p->first->last_heard_.load() < p->second) p->first->last_heard_ = p->second;
        delete p;
      },
      ctx);
  if (rc != ZOK) delete ctx;
}

double Session::SinceHeard() const { return SteadyNow() - last_heard_.load(); }

void Session::OnStateChange(Watcher fn) {
  std::lock_guard<std::mutex> lock(mu_);
  on_state_ = std::move(fn);
}

int64_t Session::id() const { return zoo_client_id(zh_)->client_id; }

double Session::timeout() const { return zoo_recv_timeout(zh_) / 1000.0; }

const void* Session::Acl(bool world_readable) const {
  if (!auth_) return &ZOO_OPEN_ACL_UNSAFE;
  return world_readable ? &kWorldReadCreatorAll : &ZOO_CREATOR_ALL_ACL;
}

absl::StatusOr<std::string> Session::Create(const std::string& path, const std::string& data, bool ephemeral,
                                            bool sequential, bool world_readable) {
  int mode = 0;
  if (ephemeral) mode |= ZOO_EPHEMERAL;
  if (sequential) mode |= ZOO_SEQUENCE;
  std::string created(path.size() + 32, '\0');
  int rc = zoo_create(zh_, path.c_str(), data.data(), static_cast<int>(data.size()),
                      static_cast<const ACL_vector*>(Acl(world_readable)), mode, created.data(),
                      static_cast<int>(created.size()));
  if (rc != ZOK) return ToStatus(rc, "creating " + path);
  created.resize(std::strlen(created.c_str()));
  return created;
}

absl::Status Session::CreatePath(const std::string& path, bool world_readable) {
  std::string prefix;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    absl::StrAppend(&prefix, "/", part);
    auto exists = Exists(prefix);
    if (!exists.ok()) return exists.status();
    if (*exists) continue;
    auto created = Create(prefix, "", false, false, world_readable);
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Session::Get(const std::string& path, Watcher watch) {
  // Records are small; a node bigger than the first guess is read again
  // with its real size.
  std::string buf(64 << 10, '\0');
  for (int attempt = 0; attempt < 3; ++attempt) {
    int len = static_cast<int>(buf.size());
    struct Stat stat;
    void* ctx = watch ? ArmWatch(watch) : nullptr;
    int rc = zoo_wget(zh_, path.c_str(), ctx ? &Session::OnWatch : nullptr, ctx, buf.data(), &len, &stat);
    if (rc != ZOK) {
      if (ctx) {
        std::lock_guard<std::mutex> lock(mu_);
        // A watch on a missing node is never armed by zoo_wget.
        if (watches_.erase(static_cast<Watcher*>(ctx))) delete static_cast<Watcher*>(ctx);
      }
      return ToStatus(rc, "reading " + path);
    }
    if (stat.dataLength <= static_cast<int>(buf.size())) {
      buf.resize(len < 0 ? 0 : len);
      return buf;
    }
    buf.assign(stat.dataLength, '\0');
  }
  return absl::UnavailableError("reading " + path + ": it keeps growing");
}

absl::StatusOr<bool> Session::Exists(const std::string& path, Watcher watch, int64_t* ephemeral_owner) {
  struct Stat stat;
  void* ctx = watch ? ArmWatch(watch) : nullptr;
  int rc = zoo_wexists(zh_, path.c_str(), ctx ? &Session::OnWatch : nullptr, ctx, &stat);
  if (rc == ZNONODE) {
    return false;  // the watch stays armed: it fires when the node appears
  }
  if (rc != ZOK) {
    if (ctx) {
      std::lock_guard<std::mutex> lock(mu_);
      if (watches_.erase(static_cast<Watcher*>(ctx))) delete static_cast<Watcher*>(ctx);
    }
    return ToStatus(rc, "looking up " + path);
  }
  if (ephemeral_owner) *ephemeral_owner = stat.ephemeralOwner;
  return true;
}

absl::StatusOr<std::vector<std::string>> Session::Children(const std::string& path, Watcher watch) {
  struct String_vector names = {0, nullptr};
  void* ctx = watch ? ArmWatch(watch) : nullptr;
  int rc = zoo_wget_children(zh_, path.c_str(), ctx ? &Session::OnWatch : nullptr, ctx, &names);
  if (rc != ZOK) {
    if (ctx) {
      std::lock_guard<std::mutex> lock(mu_);
      if (watches_.erase(static_cast<Watcher*>(ctx))) delete static_cast<Watcher*>(ctx);
    }
    return ToStatus(rc, "listing " + path);
  }
  std::vector<std::string> out(names.data, names.data + names.count);
  deallocate_String_vector(&names);
  return out;
}

absl::Status Session::Delete(const std::string& path) {
  return ToStatus(zoo_delete(zh_, path.c_str(), -1), "deleting " + path);
}

absl::Status Session::Multi(const std::string& guard, const std::vector<Op>& ops) {
  std::vector<zoo_op_t> zops(ops.size() + 1);
  std::vector<zoo_op_result_t> results(zops.size());
  // The guard is never written, so its version stays 0 while it lives.
  zoo_check_op_init(&zops[0], guard.c_str(), 0);
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    switch (op.kind) {
      case Op::kCreate:
        zoo_create_op_init(&zops[i + 1], op.path.c_str(), op.data.data(), static_cast<int>(op.data.size()),
                           static_cast<const ACL_vector*>(Acl(false)), 0, nullptr, 0);
        break;
      case Op::kSet:
        zoo_set_op_init(&zops[i + 1], op.path.c_str(), op.data.data(), static_cast<int>(op.data.size()), -1, nullptr);
        break;
      case Op::kDelete: zoo_delete_op_init(&zops[i + 1], op.path.c_str(), -1); break;
    }
  }
  int rc = zoo_multi(zh_, static_cast<int>(zops.size()), zops.data(), results.data());
  if (rc == ZOK) return absl::OkStatus();
  if (results[0].err != ZOK && results[0].err != ZRUNTIMEINCONSISTENCY) {
    return absl::FailedPreconditionError(
        absl::StrCat("this master no longer leads (its node ", guard, ": ", zerror(results[0].err), ")"));
  }
  for (size_t i = 1; i < results.size(); ++i) {
    if (results[i].err != ZOK && results[i].err != ZRUNTIMEINCONSISTENCY) {
      return ToStatus(results[i].err, "writing " + ops[i - 1].path);
    }
  }
  return ToStatus(rc, "writing to ZooKeeper");
}

}  // namespace corral::zk
