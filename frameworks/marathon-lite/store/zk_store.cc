// The ZooKeeper store: the SQLite store's rows as znodes.
//   <root>/framework_id              the framework ID
//   <root>/apps/<app>                the app (AppJson)
//   <root>/versions/<app>/<version>  its history, the newest 50 kept
//   <root>/tasks/<task>              a task (TaskJson)
//   <root>/deployments/<id>          a deployment in progress
// App IDs hold '/', which a node name cannot: names are percent-encoded.
// Writes are guarded multi-ops (corral/zookeeper/records.h).
#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "corral/framework/json.h"
#include "corral/zookeeper/records.h"
#include "model/app_json.h"
#include "store/store.h"

namespace corral::marathon {
namespace {

constexpr size_t kMaxVersions = 50;  // per app, as the SQLite store

using Nodes = zk::RecordNodes;

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
      : zk_(session), root_(std::move(root)), nodes_(session, std::move(guard)) {}

  absl::Status Init() {
    for (const char* dir : {"/apps", "/versions", "/tasks", "/deployments"}) {
      if (auto st = nodes_.MakeDirs(root_ + dir); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<StoredState> Load() override {
    StoredState state;
    nodes_.Forget();
    auto fid = nodes_.Get(root_ + "/framework_id");
    if (fid.ok()) {
      state.framework_id = *fid;
    } else if (!absl::IsNotFound(fid.status())) {
      return fid.status();
    }
    auto each = [&](const std::string& dir, const std::function<absl::Status(const std::string&)>& read) {
      auto children = nodes_.Children(root_ + dir);
      if (!children.ok()) return children.status();
      for (const auto& [name, data] : *children) {
        if (auto st = read(data); !st.ok()) return st;
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
        nodes_.Learn(VersionsDir(app.id), true);
        for (const auto& v : *versions) nodes_.Learn(VersionsDir(app.id) + "/" + v, true);
      }
    }
    return state;
  }

  absl::Status SetFrameworkId(const std::string& id) override {
    auto w = nodes_.NewWrite();
    w.Upsert(root_ + "/framework_id", id);
    return nodes_.Apply(w);
  }

  absl::Status PutApp(const App& app) override {
    auto w = nodes_.NewWrite();
    WriteApp(app, &w);
    return nodes_.Apply(w);
  }

  absl::Status PutAppChange(const App& app, const Deployment& d, const std::string& replaced) override {
    auto w = nodes_.NewWrite();
    WriteApp(app, &w);
    if (!replaced.empty()) w.Delete(root_ + "/deployments/" + Nodes::Name(replaced));
    w.Upsert(root_ + "/deployments/" + Nodes::Name(d.id), DeploymentJson(d));
    return nodes_.Apply(w);
  }

  absl::Status DeleteApp(const std::string& app_id) override {
    auto w = nodes_.NewWrite();
    w.Delete(root_ + "/apps/" + Nodes::Name(app_id));
    w.DeleteTree(VersionsDir(app_id));
    return nodes_.Apply(w);
  }

  absl::StatusOr<std::vector<std::string>> Versions(const std::string& app_id) override {
    auto names = zk_->Children(VersionsDir(app_id));
    if (absl::IsNotFound(names.status())) return std::vector<std::string>();
    if (!names.ok()) return names.status();
    std::vector<std::string> out;
    for (const auto& n : *names) out.push_back(Nodes::Id(n));
    std::sort(out.begin(), out.end());
    return out;
  }

  absl::StatusOr<std::optional<App>> Version(const std::string& app_id, const std::string& version) override {
    auto data = zk_->Get(VersionsDir(app_id) + "/" + Nodes::Name(version));
    if (absl::IsNotFound(data.status())) return std::optional<App>();
    if (!data.ok()) return data.status();
    auto app = ParseStoredApp(*data);
    if (!app) return absl::DataLossError("marathon store: version " + version + " of " + app_id + " is not an app");
    return app;
  }

  absl::Status PutTasks(const std::vector<const Task*>& tasks) override {
    auto w = nodes_.NewWrite();
    for (const Task* t : tasks) w.Upsert(root_ + "/tasks/" + Nodes::Name(t->id), TaskJson(*t));
    return nodes_.Apply(w);
  }

  absl::Status DeleteTasks(const std::vector<std::string>& ids) override {
    auto w = nodes_.NewWrite();
    for (const auto& id : ids) w.Delete(root_ + "/tasks/" + Nodes::Name(id));
    return nodes_.Apply(w);
  }

  absl::Status PutDeployment(const Deployment& d) override {
    auto w = nodes_.NewWrite();
    w.Upsert(root_ + "/deployments/" + Nodes::Name(d.id), DeploymentJson(d));
    return nodes_.Apply(w);
  }

  absl::Status DeleteDeployment(const std::string& id) override {
    auto w = nodes_.NewWrite();
    w.Delete(root_ + "/deployments/" + Nodes::Name(id));
    return nodes_.Apply(w);
  }

 private:
  // The app, its version and the trimming of its history to the newest 50,
  // all in `w`.
  void WriteApp(const App& app, Nodes::Write* w) {
    std::string json = AppJson(app);
    w->Upsert(root_ + "/apps/" + Nodes::Name(app.id), json);
    std::string dir = VersionsDir(app.id);
    w->Dir(dir);
    std::string version = dir + "/" + Nodes::Name(app.version);
    w->Upsert(version, json);
    std::vector<std::string> versions = nodes_.KnownUnder(dir);
    if (std::find(versions.begin(), versions.end(), version) == versions.end()) {
      versions.insert(std::upper_bound(versions.begin(), versions.end(), version), version);
    }
    for (size_t i = 0; i + kMaxVersions < versions.size(); ++i) w->Delete(versions[i]);
  }
  std::string VersionsDir(const std::string& app_id) const { return root_ + "/versions/" + Nodes::Name(app_id); }

  zk::Session* zk_;
  std::string root_;
  Nodes nodes_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenZkStore(zk::Session* session, const std::string& root,
                                                   const std::string& guard) {
  auto store = std::make_unique<ZkStore>(session, root, guard);
  if (auto st = store->Init(); !st.ok()) return st;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace corral::marathon
