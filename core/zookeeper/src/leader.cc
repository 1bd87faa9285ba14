#include "corral/zookeeper/leader.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "corral/common/event_loop.h"
#include "corral/common/logging.h"
#include "google/protobuf/util/json_util.h"

namespace corral::zk {

namespace {
constexpr absl::Duration kRetry = absl::Milliseconds(500);
constexpr absl::Duration kExpiryCheck = absl::Milliseconds(100);
}  // namespace

std::string MasterInfoJson(const v1::MasterInfo& info) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(info, &out, opts);
  return out;
}

absl::StatusOr<v1::MasterInfo> ParseMasterInfoJson(const std::string& json) {
  v1::MasterInfo info;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(json, &info, opts);
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("not a MasterInfo: ", st.message().as_string()));
  bool dialable = (info.has_ip() && info.has_port()) || (!info.address().ip().empty() && info.address().port() != 0);
  if (!dialable) return absl::InvalidArgumentError("MasterInfo has no address to dial (ip and port)");
  return info;
}

std::string MasterAddress(const v1::MasterInfo& info) {
  if (info.has_address() && !info.address().ip().empty() && info.address().port() != 0) {
    return absl::StrCat(info.address().ip(), ":", info.address().port());
  }
  uint32_t ip = info.ip();  // network byte order, as Mesos packs it
  return absl::StrCat(ip & 0xff, ".", (ip >> 8) & 0xff, ".", (ip >> 16) & 0xff, ".", ip >> 24, ":", info.port());
}

// ---------------------------------------------------------------- contender

struct LeaderContender::Impl {
  Url url;
  double session_timeout = 10;
  Callbacks callbacks;
  std::string data;
  std::unique_ptr<Session> session;
  std::string prefix = "json.info_";  // of the contenders' node names
  std::string node;                   // full path of our node
  bool elected = false;
  bool done = false;  // lost: nothing more happens
  int beats = 0;
  std::string watched;  // the node whose watch is armed and has not fired

  // Watches `path` (once: a Check for another reason does not arm another).
  absl::StatusOr<bool> Watch(const std::string& path) {
    if (watched == path) return session->Exists(path);
    auto exists = session->Exists(path, [this, path] {
      loop->Post([this, path] {
        if (watched == path) watched.clear();
        Check();
      });
    });
    if (exists.ok()) watched = path;
    return exists;
  }
  std::unique_ptr<EventLoop> loop;

  void Lose(const std::string& why) {
    if (done) return;
    done = true;
    CORRAL_LOG(ERROR) << "Leadership lost: " << why;
    if (callbacks.lost) callbacks.lost(why);
  }

  // Finds our node after a create whose answer was lost: the server may
  // have made it anyway, and an orphan of our own session would otherwise
  // lead without anyone knowing.
  absl::Status FindOwnNode() {
    auto children = session->Children(url.path);
    if (!children.ok()) return children.status();
    for (const auto& c : *children) {
      if (!absl::StartsWith(c, prefix)) continue;
      int64_t owner = 0;
      auto exists = session->Exists(url.path + "/" + c, nullptr, &owner);
      if (exists.ok() && *exists && owner == session->id()) {
        node = url.path + "/" + c;
        return absl::OkStatus();
      }
    }
    return absl::NotFoundError("no node of this session");
  }

  absl::Status Publish() {
    if (auto st = session->CreatePath(url.path, true); !st.ok()) return st;
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto created = session->Create(url.path + "/" + prefix, data, true, true, true);
      if (created.ok()) {
        node = *created;
        return absl::OkStatus();
      }
      if (!absl::IsUnavailable(created.status()) || session->Expired()) return created.status();
      if (FindOwnNode().ok()) return absl::OkStatus();
    }
    return absl::UnavailableError("cannot publish this master in ZooKeeper");
  }

  void Check() {
    if (done) return;
    if (session->Expired()) return Lose("the ZooKeeper session expired");
    auto children = session->Children(url.path);
    if (!children.ok()) {
      if (session->Expired()) return Lose("the ZooKeeper session expired");
      loop->PostAfter(kRetry, [this] { Check(); });
      return;
    }
    std::string mine = node.substr(url.path.size() + 1);
    if (std::find(children->begin(), children->end(), mine) == children->end()) {
      return Lose("this master's node " + node + " is gone");
    }
    std::vector<std::string> ahead;
    for (const auto& c : *children)
      if (absl::StartsWith(c, prefix) && c < mine) ahead.push_back(c);
    if (ahead.empty()) {
      if (!elected) {
        elected = true;
        CORRAL_LOG(INFO) << "Elected leader (" << node << ")";
        if (callbacks.elected) callbacks.elected();
      }
      // Watch our own node: it goes only with the session or by hand.
      auto exists = Watch(node);
      if (!exists.ok() || !*exists) loop->PostAfter(kRetry, [this] { Check(); });
      return;
    }
    // Watch only the node just ahead, so one master going wakes one other.
    std::string prev = url.path + "/" + *std::max_element(ahead.begin(), ahead.end());
    auto exists = Watch(prev);
    if (!exists.ok()) {
      loop->PostAfter(kRetry, [this] { Check(); });
    } else if (!*exists) {
      loop->Post([this] { Check(); });
    }
  }

  // A local timer, not only the server's word: a leader cut off from
  // ZooKeeper hears of its expiry only once it reconnects, and by then
  // another master leads. The server cannot expire the session until the
  // timeout has passed since it last heard from it, which is no earlier
  // than the last heartbeat it answered; giving up at five sixths of the
  // timeout after that comes first, and leaves most of the timeout to ride
  // out a ZooKeeper server's loss or an election among the servers.
  void WatchExpiry() {
    if (done) return;
    if (session->Expired()) return Lose("the ZooKeeper session expired");
    double timeout = session->timeout();
    double since = session->SinceHeard();
    if (elected && since > timeout * 5 / 6) {
      return Lose(absl::StrCat("no word from ZooKeeper for ", since, " s of the ", timeout,
                               " s session timeout; another master may lead soon"));
    }
    if (since > timeout / 6 || ++beats % 4 == 0) session->Heartbeat();
    loop->PostAfter(kExpiryCheck, [this] { WatchExpiry(); });
  }
};

LeaderContender::LeaderContender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<LeaderContender>> LeaderContender::Start(const Url& url, const v1::MasterInfo& info,
                                                                        double session_timeout, Callbacks callbacks) {
  return Start(url, "json.info_", MasterInfoJson(info), session_timeout, std::move(callbacks));
}

absl::StatusOr<std::unique_ptr<LeaderContender>> LeaderContender::Start(const Url& url, const std::string& prefix,
                                                                        const std::string& data, double session_timeout,
                                                                        Callbacks callbacks) {
  auto impl = std::make_unique<Impl>();
  impl->url = url;
  impl->session_timeout = session_timeout;
  impl->callbacks = std::move(callbacks);
  impl->prefix = prefix;
  impl->data = data;
  auto session = Session::Connect(url, session_timeout, session_timeout);
  if (!session.ok()) return session.status();
  impl->session = std::move(*session);
  if (auto st = impl->Publish(); !st.ok()) return st;
  CORRAL_LOG(INFO) << "Contending for leadership as " << impl->node << " (ZooKeeper session " << std::hex
                   << impl->session->id() << std::dec << ", timeout " << impl->session->timeout() << " s)";
  impl->loop = std::make_unique<EventLoop>("corral-zk-elect");
  Impl* raw = impl.get();
  impl->session->OnStateChange([raw] { raw->loop->Post([raw] { raw->Check(); }); });
  raw->loop->Post([raw] {
    raw->Check();
    raw->WatchExpiry();
  });
  return std::unique_ptr<LeaderContender>(new LeaderContender(std::move(impl)));
}

LeaderContender::~LeaderContender() {
  impl_->loop->Stop();
  impl_->session.reset();
}

Session* LeaderContender::session() { return impl_->session.get(); }
std::string LeaderContender::node() const { return impl_->node; }

// ---------------------------------------------------------------- detector

struct LeaderDetector::Impl {
  Url url;
  double session_timeout = 10;
  std::string prefix = "json.info_";
  OnChange on_change;    // MasterInfo (Mesos's form)
  OnDataChange on_data;  // or the leader's node data as it is
  std::unique_ptr<Session> session;
  std::optional<v1::MasterInfo> leader;
  bool reported = false;
  bool retry_pending = false;
  // Watches armed and not yet fired: a Refresh that comes for another
  // reason (a reconnection) must not arm a second one on the same node.
  bool children_armed = false;
  bool exists_armed = false;
  std::unique_ptr<EventLoop> loop;

  void Report(const std::optional<v1::MasterInfo>& now) {
    if (on_data) return ReportData(std::nullopt);
    bool same = reported && now.has_value() == leader.has_value() &&
                (!now || now->SerializeAsString() == leader->SerializeAsString());
    if (same) return;
    reported = true;
    leader = now;
    if (now) {
      CORRAL_LOG(INFO) << "Leading master: " << MasterAddress(*now) << " (" << now->id() << ")";
    } else {
      CORRAL_LOG(WARNING) << "No master leads under " << url.servers << url.path;
    }
    on_change(now);
  }

  std::optional<std::string> leader_data;
  void ReportData(const std::optional<std::string>& now) {
    if (reported && now == leader_data) return;
    reported = true;
    leader_data = now;
    on_data(now);
  }

  void RetrySoon() {
    if (retry_pending) return;
    retry_pending = true;
    loop->PostAfter(kRetry, [this] {
      retry_pending = false;
      Refresh();
    });
  }

  void Refresh() {
    if (!session || session->Expired()) {
      // An expired handle never recovers: make a new one.
      session.reset();
      auto s = Session::Connect(url, session_timeout, session_timeout);
      if (!s.ok()) {
        CORRAL_LOG(WARNING) << "ZooKeeper: " << s.status().message() << "; retrying";
        if (!reported) Report(std::nullopt);
        return RetrySoon();
      }
      session = std::move(*s);
      children_armed = exists_armed = false;
      session->OnStateChange([this] { loop->Post([this] { Refresh(); }); });
    }
    Session* current = session.get();
    auto on_children = [this, current] {
      loop->Post([this, current] {
        if (session.get() == current) children_armed = false;
        Refresh();
      });
    };
    auto on_exists = [this, current] {
      loop->Post([this, current] {
        if (session.get() == current) exists_armed = false;
        Refresh();
      });
    };
    auto children = session->Children(url.path, children_armed ? Session::Watcher() : on_children);
    if (children.ok()) children_armed = true;
    if (absl::IsNotFound(children.status())) {
      // Nothing published yet: wake when the path appears.
      auto exists = session->Exists(url.path, exists_armed ? Session::Watcher() : on_exists);
      if (!exists.ok()) return RetrySoon();
      exists_armed = true;
      if (*exists) return (void)loop->Post([this] { Refresh(); });
      return Report(std::nullopt);
    }
    if (!children.ok()) return RetrySoon();
    std::optional<std::string> node;
    for (const auto& c : *children)
      if (absl::StartsWith(c, prefix) && (!node || c < *node)) node = c;
    if (!node) return Report(std::nullopt);
    auto data = session->Get(url.path + "/" + *node);
    if (absl::IsNotFound(data.status())) return (void)loop->Post([this] { Refresh(); });  // it just went
    if (!data.ok()) return RetrySoon();
    if (on_data) return ReportData(*data);
    auto info = ParseMasterInfoJson(*data);
    if (!info.ok()) {
      CORRAL_LOG(ERROR) << "The leader's node " << url.path << "/" << *node << " holds no MasterInfo ("
                        << info.status().message() << ")";
      return Report(std::nullopt);
    }
    Report(*info);
  }
};

LeaderDetector::LeaderDetector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<LeaderDetector> LeaderDetector::Start(const Url& url, double session_timeout, OnChange on_change) {
  return Start(url, session_timeout, std::move(on_change), "json.info_", nullptr);
}

std::unique_ptr<LeaderDetector> LeaderDetector::StartForData(const Url& url, const std::string& prefix,
                                                             double session_timeout, OnDataChange on_data) {
  return Start(url, session_timeout, nullptr, prefix, std::move(on_data));
}

std::unique_ptr<LeaderDetector> LeaderDetector::Start(const Url& url, double session_timeout, OnChange on_change,
                                                      const std::string& prefix, OnDataChange on_data) {
  auto impl = std::make_unique<Impl>();
  impl->url = url;
  impl->session_timeout = session_timeout;
  impl->on_change = std::move(on_change);
  impl->prefix = prefix;
  impl->on_data = std::move(on_data);
  impl->loop = std::make_unique<EventLoop>("corral-zk-detect");
  Impl* raw = impl.get();
  raw->loop->Post([raw] { raw->Refresh(); });
  return std::unique_ptr<LeaderDetector>(new LeaderDetector(std::move(impl)));
}

LeaderDetector::~LeaderDetector() {
  impl_->loop->Stop();
  impl_->session.reset();
}

absl::StatusOr<std::unique_ptr<MasterDetector>> MasterDetector::Start(const std::string& master, OnChange on_change,
                                                                      double session_timeout) {
  std::unique_ptr<MasterDetector> d(new MasterDetector());
  if (!IsZkUrl(master)) {
    if (master.empty()) return absl::InvalidArgumentError("the master address is empty");
    on_change(master);
    return d;
  }
  auto url = ParseUrl(master);
  if (!url.ok()) return url.status();
  d->zk_ = LeaderDetector::Start(*url, session_timeout, [on_change](const std::optional<v1::MasterInfo>& info) {
    on_change(info ? MasterAddress(*info) : std::string());
  });
  return d;
}

MasterDetector::~MasterDetector() = default;

}  // namespace corral::zk
