// The ZooKeeper store: the SQLite store's rows as znodes.
//   <root>/framework_id              the framework ID
//   <root>/apps/<app>                the app (AppJson)
//   <root>/versions/<app>/<version>  its history, the newest 50 kept
//   <root>/tasks/<task>              a task (TaskJson)
//   <root>/deployments/<id>          a deployment in progress
// App IDs hold '/', which a node name cannot: names are percent-encoded.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "corral/framework/json.h"
#include "model/app_json.h"
#include "store/store.h"

namespace corral::marathon {
namespace {

constexpr size_t kMaxVersions = 50;  // per app, as the SQLite store

std::string Encode(const std::string& id) {
  std::string out;
  for (char c : id) {
    if (c == '/' || c == '%') {
      absl::StrAppend(&out, c == '/' ? "%2F" : "%25");
    } else {
      out += c;
    }
  }
  return out;
}

std::string DeploymentJson(const Deployment& d) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  for (const auto& [k, v] : {std::pair<const char*, const std::string*>{"id", &d.id},
                             {"appId", &d.app_id},
                             {"version", &d.version},
                             {"previous", &d.previous},
                             {"startedAt", &d.started_at},
                             {"action", &d.action},
                             {"progressAt", &d.progress_at}}) {
    w.Key(k);
    w.String(v->c_str(), static_cast<rapidjson::SizeType>(v->size()));
  }
  w.Key("canary");
  w.Bool(d.canary);
  w.Key("progress");
  w.Int(d.progress);
  w.EndObject();
  return buf.GetString();
}

std::optional<Deployment> ParseDeployment(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  Deployment d;
  for (const auto& [k, v] : {std::pair<const char*, std::string*>{"id", &d.id},
                             {"appId", &d.app_id},
                             {"version", &d.version},
                             {"previous", &d.previous},
                             {"startedAt", &d.started_at},
                             {"action", &d.action}}) {
    auto it = doc.FindMember(k);
    if (it == doc.MemberEnd() || !it->value.IsString()) return std::nullopt;
    *v = it->value.GetString();
  }
  auto c = doc.FindMember("canary");
  d.canary = c != doc.MemberEnd() && c->value.IsBool() && c->value.GetBool();
  auto p = doc.FindMember("progress");
  if (p != doc.MemberEnd() && p->value.IsInt()) d.progress = p->value.GetInt();
  auto at = doc.FindMember("progressAt");
  if (at != doc.MemberEnd() && at->value.IsString()) d.progress_at = at->value.GetString();
  return d;
}

class ZkStore : public Store {
 public:
  ZkStore(zk::Session* session, std::string root, std::string guard)
      : zk_(session), root_(std::move(root)), guard_(std::move(guard)) {}

  absl::Status Init() {
    for (const char* dir : {"/apps", "/versions", "/tasks", "/deployments"}) {
      if (auto st = zk_->CreatePath(root_ + dir, false); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<StoredState> Load() override {
    StoredState state;
    known_.clear();
    auto fid = zk_->Get(root_ + "/framework_id");
    if (fid.ok()) {
      state.framework_id = *fid;
      known_.insert(root_ + "/framework_id");
    } else if (!absl::IsNotFound(fid.status())) {
      return fid.status();
    }
    auto each = [&](const std::string& dir, const std::function<absl::Status(const std::string&)>& read) {
      auto names = zk_->Children(root_ + dir);
      if (!names.ok()) return names.status();
      std::sort(names->begin(), names->end());
      for (const auto& n : *names) {
        std::string path = root_ + dir + "/" + n;
        auto data = zk_->Get(path);
        if (absl::IsNotFound(data.status())) continue;
        if (!data.ok()) return data.status();
        if (auto st = read(*data); !st.ok()) return st;
        known_.insert(path);
      }
      return absl::OkStatus();
    };
    if (auto st = each("/apps",
                       [&](const std::string& json) {
                         auto app = ParseStoredApp(json);
                         if (!app) return absl::DataLossError("marathon store: a node under apps is not an app");
                         state.apps.push_back(std::move(*app));
                         return absl::OkStatus();
                       });
        !st.ok()) {
      return st;
    }
    if (auto st = each("/tasks",
                       [&](const std::string& json) {
                         rapidjson::Document doc;
                         doc.Parse(json.c_str());
                         Task t;
                         if (doc.HasParseError() || !ReadTask(doc, &t)) {
                           return absl::DataLossError("marathon store: a node under tasks is not a task");
                         }
                         state.tasks.push_back(std::move(t));
                         return absl::OkStatus();
                       });
        !st.ok()) {
      return st;
    }
    if (auto st = each("/deployments",
                       [&](const std::string& json) {
                         auto d = ParseDeployment(json);
                         if (!d) return absl::DataLossError("marathon store: a node under deployments is not one");
                         state.deployments.push_back(std::move(*d));
                         return absl::OkStatus();
                       });
        !st.ok()) {
      return st;
    }
    std::sort(state.deployments.begin(), state.deployments.end(),
              [](const Deployment& a, const Deployment& b) { return a.started_at < b.started_at; });
    for (const auto& app : state.apps) {
      auto versions = zk_->Children(VersionsDir(app.id));
      if (!versions.ok() && !absl::IsNotFound(versions.status())) return versions.status();
      if (versions.ok()) {
        known_.insert(VersionsDir(app.id));
        for (const auto& v : *versions) known_.insert(VersionsDir(app.id) + "/" + v);
      }
    }
    return state;
  }

  absl::Status SetFrameworkId(const std::string& id) override {
    std::vector<zk::Session::Op> ops;
    Upsert(&ops, root_ + "/framework_id", id);
    return Commit(ops);
  }

  absl::Status PutApp(const App& app) override {
    std::vector<zk::Session::Op> ops;
    AppOps(app, &ops);
    return Commit(ops);
  }

  absl::Status PutAppChange(const App& app, const Deployment& d, const std::string& replaced) override {
    std::vector<zk::Session::Op> ops;
    AppOps(app, &ops);
    std::string old = root_ + "/deployments/" + Encode(replaced);
    if (!replaced.empty() && known_.count(old)) ops.push_back({zk::Session::Op::kDelete, old, ""});
    Upsert(&ops, root_ + "/deployments/" + Encode(d.id), DeploymentJson(d));
    return Commit(ops);
  }

  absl::Status DeleteApp(const std::string& app_id) override {
    std::vector<zk::Session::Op> ops;
    std::string app = root_ + "/apps/" + Encode(app_id);
    if (known_.count(app)) ops.push_back({zk::Session::Op::kDelete, app, ""});
    std::string dir = VersionsDir(app_id);
    for (const auto& v : VersionsKnown(app_id)) ops.push_back({zk::Session::Op::kDelete, dir + "/" + v, ""});
    if (known_.count(dir)) ops.push_back({zk::Session::Op::kDelete, dir, ""});
    if (ops.empty()) return absl::OkStatus();
    return Commit(ops);
  }

  absl::StatusOr<std::vector<std::string>> Versions(const std::string& app_id) override {
    auto names = zk_->Children(VersionsDir(app_id));
    if (absl::IsNotFound(names.status())) return std::vector<std::string>();
    if (!names.ok()) return names.status();
    std::vector<std::string> out;
    for (const auto& n : *names) out.push_back(Decode(n));
    std::sort(out.begin(), out.end());
    return out;
  }

  absl::StatusOr<std::optional<App>> Version(const std::string& app_id, const std::string& version) override {
    auto data = zk_->Get(VersionsDir(app_id) + "/" + Encode(version));
    if (absl::IsNotFound(data.status())) return std::optional<App>();
    if (!data.ok()) return data.status();
    auto app = ParseStoredApp(*data);
    if (!app) return absl::DataLossError("marathon store: version " + version + " of " + app_id + " is not an app");
    return app;
  }

  absl::Status PutTasks(const std::vector<const Task*>& tasks) override {
    if (tasks.empty()) return absl::OkStatus();
    std::vector<zk::Session::Op> ops;
    for (const Task* t : tasks) Upsert(&ops, root_ + "/tasks/" + Encode(t->id), TaskJson(*t));
    return Commit(ops);
  }

  absl::Status DeleteTasks(const std::vector<std::string>& ids) override {
    std::vector<zk::Session::Op> ops;
    for (const auto& id : ids) {
      std::string path = root_ + "/tasks/" + Encode(id);
      if (known_.count(path)) ops.push_back({zk::Session::Op::kDelete, path, ""});
    }
    if (ops.empty()) return absl::OkStatus();
    return Commit(ops);
  }

  absl::Status PutDeployment(const Deployment& d) override {
    std::vector<zk::Session::Op> ops;
    Upsert(&ops, root_ + "/deployments/" + Encode(d.id), DeploymentJson(d));
    return Commit(ops);
  }

  absl::Status DeleteDeployment(const std::string& id) override {
    std::string path = root_ + "/deployments/" + Encode(id);
    if (!known_.count(path)) return absl::OkStatus();
    return Commit({{zk::Session::Op::kDelete, path, ""}});
  }

 private:
  static std::string Decode(const std::string& name) {
    std::string out;
    for (size_t i = 0; i < name.size(); ++i) {
      if (name.compare(i, 3, "%2F") == 0) {
        out += '/';
        i += 2;
      } else if (name.compare(i, 3, "%25") == 0) {
        out += '%';
        i += 2;
      } else {
        out += name[i];
      }
    }
    return out;
  }
  // The app, its version and the trimming of its history, as ops.
  void AppOps(const App& app, std::vector<zk::Session::Op>* ops) {
    std::string json = AppJson(app);
    Upsert(ops, root_ + "/apps/" + Encode(app.id), json);
    std::string dir = VersionsDir(app.id);
    if (!known_.count(dir)) ops->push_back({zk::Session::Op::kCreate, dir, ""});
    Upsert(ops, dir + "/" + Encode(app.version), json);
    // The oldest versions beyond the newest 50 go in the same multi-op.
    auto versions = VersionsKnown(app.id);
    versions.insert(Encode(app.version));
    while (versions.size() > kMaxVersions) {
      ops->push_back({zk::Session::Op::kDelete, dir + "/" + *versions.begin(), ""});
      versions.erase(versions.begin());
    }
  }
  std::string VersionsDir(const std::string& app_id) const { return root_ + "/versions/" + Encode(app_id); }
  std::set<std::string> VersionsKnown(const std::string& app_id) const {
    std::set<std::string> out;
    std::string prefix = VersionsDir(app_id) + "/";
    for (auto it = known_.lower_bound(prefix); it != known_.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) {
      out.insert(it->substr(prefix.size()));
    }
    return out;
  }
  // This leader is the only writer, so what it wrote (and loaded) tells
  // create from set.
  void Upsert(std::vector<zk::Session::Op>* ops, const std::string& path, const std::string& data) const {
    ops->push_back({known_.count(path) ? zk::Session::Op::kSet : zk::Session::Op::kCreate, path, data});
  }
  absl::Status Commit(const std::vector<zk::Session::Op>& ops) {
    absl::Status st = zk_->Multi(guard_, ops);
    if (!st.ok()) return st;
    for (const auto& op : ops) {
      if (op.kind == zk::Session::Op::kDelete) {
        known_.erase(op.path);
      } else {
        known_.insert(op.path);
      }
    }
    return absl::OkStatus();
  }

  zk::Session* zk_;
  std::string root_;
  std::string guard_;
  std::set<std::string> known_;  // nodes that exist
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenZkStore(zk::Session* session, const std::string& root,
                                                   const std::string& guard) {
  auto store = std::make_unique<ZkStore>(session, root, guard);
  if (auto st = store->Init(); !st.ok()) return st;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace corral::marathon
