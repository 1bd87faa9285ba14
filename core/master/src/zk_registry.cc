#include "corral/master/zk_registry.h"

#include "absl/strings/str_cat.h"
#include "corral/zookeeper/records.h"
#include "corral/v1/internal.pb.h"

namespace corral {

namespace {

class ZkRegistry : public Registry {
 public:
  ZkRegistry(zk::Session* session, std::string root, std::string guard)
      : session_(session), root_(std::move(root)), nodes_(session, std::move(guard)) {}

  absl::Status Init() {
    for (const char* dir : {"/agents", "/frameworks", "/operator"}) {
      if (auto st = nodes_.MakeDirs(root_ + dir); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<RegistryState> Recover() override {
    RegistryState state;
    nodes_.Forget();
    auto agents = nodes_.Children(root_ + "/agents");
    if (!agents.ok()) return agents.status();
    for (const auto& [name, data] : *agents) {
      v1::internal::RegistryAgent rec;
      if (!rec.ParseFromString(data)) {
        return absl::DataLossError("registry node " + root_ + "/agents/" + name + " is not an agent record");
      }
      state.agents.push_back({rec.info(), rec.unreachable_since(), {rec.principal(), rec.secret_digest()}});
    }
    auto frameworks = nodes_.Children(root_ + "/frameworks");
    if (!frameworks.ok()) return frameworks.status();
    for (const auto& [name, data] : *frameworks) {
      v1::FrameworkInfo info;
      if (!info.ParseFromString(data)) {
        return absl::DataLossError("registry node " + root_ + "/frameworks/" + name + " is not a framework");
      }
      state.frameworks.push_back(std::move(info));
    }
    auto names = session_->Children(root_ + "/operator");
    if (!names.ok()) return names.status();
    for (const auto& n : *names) nodes_.Learn(root_ + "/operator/" + n, true);
    return state;
  }

  absl::Status AdmitAgent(const v1::AgentInfo& info, const AgentIdentity& identity) override {
    v1::internal::RegistryAgent rec;
    *rec.mutable_info() = info;
    rec.set_unreachable_since(0);
    if (!identity.principal.empty()) rec.set_principal(identity.principal);
    if (!identity.secret_digest.empty()) rec.set_secret_digest(identity.secret_digest);
    return Put(AgentPath(info.id().value()), rec.SerializeAsString());
  }

  absl::Status MarkAgentUnreachable(const std::string& agent_id, double since) override {
    std::string path = AgentPath(agent_id);
    auto data = session_->Get(path);
    if (absl::IsNotFound(data.status())) return absl::OkStatus();
    if (!data.ok()) return data.status();
    v1::internal::RegistryAgent rec;
    if (!rec.ParseFromString(*data)) return absl::DataLossError("registry node " + path + " is not an agent record");
    rec.set_unreachable_since(since);
    return Put(path, rec.SerializeAsString());
  }

  absl::Status RemoveAgent(const std::string& agent_id) override { return Remove(AgentPath(agent_id)); }

  absl::Status AddFramework(const v1::FrameworkInfo& info) override {
    return Put(root_ + "/frameworks/" + Name(info.id().value()), info.SerializeAsString());
  }

  absl::Status RemoveFramework(const std::string& framework_id) override {
    return Remove(root_ + "/frameworks/" + Name(framework_id));
  }

  absl::Status PutOperatorState(const std::string& name, const std::string& value) override {
    return Put(root_ + "/operator/" + Name(name), value);
  }

  absl::StatusOr<std::string> GetOperatorState(const std::string& name) override {
    auto data = session_->Get(root_ + "/operator/" + Name(name));
    if (absl::IsNotFound(data.status())) return absl::NotFoundError(absl::StrCat("no operator state '", name, "'"));
    return data;
  }

 private:
  static std::string Name(const std::string& id) { return zk::RecordNodes::Name(id); }
  std::string AgentPath(const std::string& id) const { return root_ + "/agents/" + Name(id); }

  absl::Status Put(const std::string& path, const std::string& data) {
    auto w = nodes_.NewWrite();
    w.Upsert(path, data);
    absl::Status st = nodes_.Apply(w);
    // What this master knew of the node was wrong (it was made or removed
    // under another leader's hand): once more, knowing better.
    if (absl::IsAlreadyExists(st) || absl::IsNotFound(st)) {
      nodes_.Learn(path, absl::IsAlreadyExists(st));
      auto again = nodes_.NewWrite();
      again.Upsert(path, data);
      st = nodes_.Apply(again);
    }
    return st;
  }

  absl::Status Remove(const std::string& path) {
    nodes_.Learn(path, true);  // deleted even when not seen: it may be there
    auto w = nodes_.NewWrite();
    w.Delete(path);
    absl::Status st = nodes_.Apply(w);
    if (absl::IsNotFound(st)) {
      nodes_.Learn(path, false);
      st = absl::OkStatus();
    }
    return st;
  }

  zk::Session* session_;
  std::string root_;
  zk::RecordNodes nodes_;  // record nodes that exist (set, not create)
};

}  // namespace

absl::StatusOr<std::unique_ptr<Registry>> OpenZkRegistry(zk::Session* session, const std::string& root,
                                                         const std::string& guard) {
  auto registry = std::make_unique<ZkRegistry>(session, root, guard);
  if (auto st = registry->Init(); !st.ok()) return st;
  return std::unique_ptr<Registry>(std::move(registry));
}

}  // namespace corral
