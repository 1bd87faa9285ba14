#include "corral/master/zk_registry.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "corral/v1/internal.pb.h"

namespace corral {

namespace {

class ZkRegistry : public Registry {
 public:
  ZkRegistry(zk::Session* session, std::string root, std::string guard)
      : session_(session), root_(std::move(root)), guard_(std::move(guard)) {}

  absl::Status Init() {
    for (const char* dir : {"/agents", "/frameworks", "/operator"}) {
      if (auto st = session_->CreatePath(root_ + dir, false); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<RegistryState> Recover() override {
    RegistryState state;
    known_.clear();
    auto agents = session_->Children(root_ + "/agents");
    if (!agents.ok()) return agents.status();
    for (const auto& id : *agents) {
      std::string path = root_ + "/agents/" + id;
      auto data = session_->Get(path);
      if (absl::IsNotFound(data.status())) continue;
      if (!data.ok()) return data.status();
      v1::internal::RegistryAgent rec;
      if (!rec.ParseFromString(*data)) return absl::DataLossError("registry node " + path + " is not an agent record");
      state.agents.push_back({rec.info(), rec.unreachable_since()});
      known_.insert(path);
    }
    auto frameworks = session_->Children(root_ + "/frameworks");
    if (!frameworks.ok()) return frameworks.status();
    for (const auto& id : *frameworks) {
      std::string path = root_ + "/frameworks/" + id;
      auto data = session_->Get(path);
      if (absl::IsNotFound(data.status())) continue;
      if (!data.ok()) return data.status();
      v1::FrameworkInfo info;
      if (!info.ParseFromString(*data)) return absl::DataLossError("registry node " + path + " is not a framework");
      state.frameworks.push_back(std::move(info));
      known_.insert(path);
    }
    auto names = session_->Children(root_ + "/operator");
    if (!names.ok()) return names.status();
    for (const auto& n : *names) known_.insert(root_ + "/operator/" + n);
    return state;
  }

  absl::Status AdmitAgent(const v1::AgentInfo& info) override {
    v1::internal::RegistryAgent rec;
    *rec.mutable_info() = info;
    rec.set_unreachable_since(0);
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
  // IDs become node names; '/' is the one character a name cannot hold.
  static std::string Name(const std::string& id) {
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
  std::string AgentPath(const std::string& id) const { return root_ + "/agents/" + Name(id); }

  absl::Status Put(const std::string& path, const std::string& data) {
    bool exists = known_.count(path) > 0;
    absl::Status st =
        session_->Multi(guard_, {{exists ? zk::Session::Op::kSet : zk::Session::Op::kCreate, path, data}});
    if (!exists && absl::IsAlreadyExists(st)) {
      st = session_->Multi(guard_, {{zk::Session::Op::kSet, path, data}});
    } else if (exists && absl::IsNotFound(st)) {
      st = session_->Multi(guard_, {{zk::Session::Op::kCreate, path, data}});
    }
    if (st.ok()) known_.insert(path);
    return st;
  }

  absl::Status Remove(const std::string& path) {
    absl::Status st = session_->Multi(guard_, {{zk::Session::Op::kDelete, path, ""}});
    if (absl::IsNotFound(st)) st = absl::OkStatus();
    if (st.ok()) known_.erase(path);
    return st;
  }

  zk::Session* session_;
  std::string root_;
  std::string guard_;
  std::set<std::string> known_;  // record nodes that exist (set, not create)
};

}  // namespace

absl::StatusOr<std::unique_ptr<Registry>> OpenZkRegistry(zk::Session* session, const std::string& root,
                                                         const std::string& guard) {
  auto registry = std::make_unique<ZkRegistry>(session, root, guard);
  if (auto st = registry->Init(); !st.ok()) return st;
  return std::unique_ptr<Registry>(std::move(registry));
}

}  // namespace corral
