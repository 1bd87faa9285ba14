// The master's durable record: the agents it admitted, the frameworks it
// registered, and operator state. What is in the registry survives a master
// restart; everything else (tasks, offers) is learned again from agents and
// frameworks as they come back.
//
// Threading: called by the master's loop thread only. Each write returns
// once it is durable (a commit point): the master replies to the agent or
// framework only after that.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "corral/v1/corral.pb.h"

namespace corral {

// What binds an agent ID to the agent that registered with it, so that
// nobody else can reregister with that (public) ID: the principal of its
// credential (with --authenticate_agents) and the digest of a secret the
// master issued it at registration. Empty fields bind nothing (agents
// admitted before these existed, until they are issued a secret).
struct AgentIdentity {
  std::string principal;
  std::string secret_digest;  // SHA-256, raw bytes
};

struct RegistryState {
  struct Agent {
    v1::AgentInfo info;            // with its ID
    double unreachable_since = 0;  // wall clock; 0 = reachable when last seen
    AgentIdentity identity;
  };
  std::vector<Agent> agents;
  std::vector<v1::FrameworkInfo> frameworks;  // with their IDs
};

// The seam for other stores (a ZooKeeper-backed one for several masters).
class Registry {
 public:
  virtual ~Registry() = default;
  // What the last run recorded.
  virtual absl::StatusOr<RegistryState> Recover() = 0;
  // Admits the agent, or updates it (and marks it reachable).
  virtual absl::Status AdmitAgent(const v1::AgentInfo& info, const AgentIdentity& identity) = 0;
  virtual absl::Status MarkAgentUnreachable(const std::string& agent_id, double since) = 0;
  virtual absl::Status RemoveAgent(const std::string& agent_id) = 0;
  // Adds the framework, or updates its info.
  virtual absl::Status AddFramework(const v1::FrameworkInfo& info) = 0;
  virtual absl::Status RemoveFramework(const std::string& framework_id) = 0;
  // Operator state (weights, quotas, maintenance) by name, as serialized
  // messages; the operator API that sets it comes with the HTTP API.
  virtual absl::Status PutOperatorState(const std::string& name, const std::string& value) = 0;
  virtual absl::StatusOr<std::string> GetOperatorState(const std::string& name) = 0;
};

// SQLite in WAL mode with synchronous=FULL: each write is one transaction,
// durable when it returns. Opening fails, naming the file, if it cannot be
// read or is not a Corral registry.
absl::StatusOr<std::unique_ptr<Registry>> OpenSqliteRegistry(const std::string& path);

// Keeps nothing across restarts: for masters without a work dir (tests,
// `corral local` without one).
std::unique_ptr<Registry> NewInMemoryRegistry();

}  // namespace corral
