// The registry in ZooKeeper, for masters elected through it (--zk): the
// same records as the SQLite registry, one znode each, under
//   <root>/agents/<agent id>        RegistryAgent (AgentInfo, unreachable since)
//   <root>/frameworks/<framework id> FrameworkInfo
//   <root>/operator/<name>           operator state (weights, quotas, maintenance)
// as serialized protobuf. Every write is one multi-op that first checks the
// leader's own ephemeral node (`guard`): once that node is gone (the
// session expired, another master leads) no write of this master can land.
//
// Threading: as Registry (the master's loop); the session is shared with
// the leader contender, whose thread only reads it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "corral/master/registry.h"
#include "corral/zookeeper/zk.h"

namespace corral {

absl::StatusOr<std::unique_ptr<Registry>> OpenZkRegistry(zk::Session* session, const std::string& root,
                                                         const std::string& guard);

}  // namespace corral
