// Dynamic reservations an operator makes and undoes at run time
// (RESERVE_RESOURCES, UNRESERVE_RESOURCES). They live in the agent's total:
// the registry's record of the agent holds them, so they outlive a master
// restart, and they are carried over when the agent reregisters with the
// unreserved resources of its --resources.
#include "absl/strings/str_cat.h"
#include "corral/common/logging.h"
#include "corral/master/master.h"
#include "corral/master/validation.h"

namespace corral {

absl::Status Master::ReserveResources(const std::string& agent_id, const Resources& resources) {
  for (const ResourceItem& item : resources.items()) {
    if (item.role == kUnreservedRole || !item.dynamic) {
      return absl::InvalidArgumentError(
          absl::StrCat("resource '", item.name, "' must carry a DYNAMIC reservation for a role other than '*'"));
    }
    if (absl::Status s = validation::ValidateRole(item.role); !s.ok()) return s;
  }
  if (resources.Empty()) return absl::InvalidArgumentError("no resources to reserve");
  return loop_.Call([&] { return ChangeReservations(agent_id, resources.Flattened(), resources); });
}

absl::Status Master::UnreserveResources(const std::string& agent_id, const Resources& resources) {
  for (const ResourceItem& item : resources.items()) {
    if (item.role == kUnreservedRole || !item.dynamic) {
      return absl::InvalidArgumentError(
          absl::StrCat("resource '", item.name, "' is not dynamically reserved: only those can be unreserved"));
    }
  }
  if (resources.Empty()) return absl::InvalidArgumentError("no resources to unreserve");
  return loop_.Call([&] { return ChangeReservations(agent_id, resources, resources.Flattened()); });
}

absl::Status Master::ChangeReservations(const std::string& agent_id, const Resources& from, const Resources& to) {
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) return absl::NotFoundError(absl::StrCat("no agent '", agent_id, "'"));
  AgentEntry& agent = it->second;
  if (!agent.reachable || agent.recovered) {
    return absl::FailedPreconditionError(absl::StrCat("agent '", agent_id, "' is not connected"));
  }
  // Resources offered are not free to change: their offers are rescinded.
  for (const std::string& offer_id : std::set<std::string>(agent.offers)) RescindOffer(offer_id, true, 0);
  Resources available = allocator_.AgentAvailable(agent_id);
  if (!available.Contains(from)) {
    return absl::FailedPreconditionError(absl::StrCat("agent '", agent_id, "' does not have ", from.ToString(),
                                                      " unallocated; it has ", available.ToString()));
  }
  Resources total = agent.total - from + to;
  // A commit point: the agent's record in the registry holds its reservations.
  v1::AgentInfo info = agent.info;
  info.clear_resources();
  total.ToProto(info.mutable_resources());
  if (absl::Status s = registry_->AdmitAgent(info, agent.identity); !s.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot record the reservation: ", s.message()));
  }
  agent.info = std::move(info);
  agent.total = total;
  allocator_.UpdateAgentTotal(agent_id, total);
  CORRAL_LOG(INFO) << "Agent " << agent_id << ": " << from.ToString() << " became " << to.ToString();
  ScheduleAllocation(agent_id);
  return absl::OkStatus();
}

v1::AgentInfo Master::WithKeptReservations(const v1::AgentInfo& reported) const {
  auto it = agents_.find(reported.id().value());
  if (it == agents_.end()) return reported;
  Resources reserved = it->second.total.DynamicallyReserved();
  if (reserved.Empty()) return reported;
  auto total = Resources::FromProto(reported.resources());
  if (!total.ok()) return reported;
  if (!total->Contains(reserved.Flattened())) {
    CORRAL_LOG(WARNING) << "Agent " << reported.id().value() << " reregistered with " << total->ToString()
                        << ", too little for its reservations " << reserved.ToString() << "; they are dropped";
    return reported;
  }
  v1::AgentInfo info = reported;
  info.clear_resources();
  (*total - reserved.Flattened() + reserved).ToProto(info.mutable_resources());
  return info;
}

}  // namespace corral
