// Maintenance: schedules, inverse offers, machines down and up. Runs on the
// master's loop like the rest of master.cc.
#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "corral/common/frameworks.h"
#include "corral/common/ids.h"
#include "corral/common/logging.h"
#include "corral/common/task_state.h"
#include "corral/master/master.h"

namespace corral {

namespace {

using v1::internal::MasterMessage;
using v1::scheduler::Event;

constexpr char kMaintenanceState[] = "maintenance";

std::string HostKey(const std::string& hostname) {
  std::string key = hostname;
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  return key;
}

v1::TimeInfo TimeOf(absl::Time t) {
  v1::TimeInfo out;
  out.set_nanoseconds(absl::ToUnixNanos(t));
  return out;
}

absl::Status ValidateMachines(const std::vector<v1::MachineID>& machines, const char* field) {
  if (machines.empty()) return absl::InvalidArgumentError(absl::StrCat("'", field, "' must name at least one machine"));
  for (size_t i = 0; i < machines.size(); ++i) {
    if (machines[i].hostname().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", field, "[", i, "].hostname' is required: agents are matched to machines by hostname"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Master::MachineEntry* Master::MachineOf(const std::string& hostname) {
  auto it = machines_.find(HostKey(hostname));
  return it == machines_.end() ? nullptr : &it->second;
}

absl::Status Master::PersistMaintenance() {
  v1::internal::MaintenanceState state;
  *state.mutable_schedule() = schedule_;
  for (const auto& [key, m] : machines_)
    if (m.down) *state.add_down_machines() = m.id;
  for (const auto& [id, agent] : agents_) {
    if (!agent.drain) continue;
    auto* d = state.add_drains();
    d->set_agent_id(id);
    *d->mutable_info() = *agent.drain;
  }
  return registry_->PutOperatorState(kMaintenanceState, state.SerializeAsString());
}

void Master::RecoverMaintenance() {
  auto stored = registry_->GetOperatorState(kMaintenanceState);
  if (!stored.ok()) return;
  v1::internal::MaintenanceState state;
  if (!state.ParseFromString(*stored)) {
    CORRAL_LOG(ERROR) << "The registry's maintenance state does not decode; starting with no schedule";
    return;
  }
  schedule_ = state.schedule();
  for (const auto& w : schedule_.windows()) {
    for (const auto& id : w.machine_ids()) {
      MachineEntry& m = machines_[HostKey(id.hostname())];
      m.id = id;
      m.unavailability = w.unavailability();
    }
  }
  for (const auto& id : state.down_machines()) machines_[HostKey(id.hostname())].down = true;
  // Drains go on once their agents reregister.
  for (const auto& d : state.drains()) {
    auto it = agents_.find(d.agent_id());
    if (it != agents_.end()) it->second.drain = d.info();
  }
}

v1::maintenance::Schedule Master::GetMaintenanceSchedule() {
  return loop_.Call([this] { return schedule_; });
}

absl::Status Master::UpdateMaintenanceSchedule(const v1::maintenance::Schedule& schedule) {
  // Validated at the edge: every window has machines (by hostname) and an
  // unavailability with a start; no machine is in two windows.
  std::map<std::string, std::pair<v1::MachineID, v1::Unavailability>> wanted;
  for (int w = 0; w < schedule.windows_size(); ++w) {
    const auto& window = schedule.windows(w);
    std::vector<v1::MachineID> ids(window.machine_ids().begin(), window.machine_ids().end());
    std::string field = absl::StrCat("windows[", w, "].machine_ids");
    if (auto s = ValidateMachines(ids, field.c_str()); !s.ok()) return s;
    if (!window.has_unavailability() || !window.unavailability().has_start()) {
      return absl::InvalidArgumentError(absl::StrCat("'windows[", w, "].unavailability.start' is required"));
    }
    if (window.unavailability().has_duration() && window.unavailability().duration().nanoseconds() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("'windows[", w, "].unavailability.duration' must not be negative"));
    }
    for (const auto& id : ids) {
      if (!wanted.emplace(HostKey(id.hostname()), std::make_pair(id, window.unavailability())).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("machine '", id.hostname(), "' appears in more than one maintenance window"));
      }
    }
  }
  return loop_.Call([&]() -> absl::Status {
    for (const auto& [key, m] : machines_) {
      if (m.down && !wanted.count(key)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "machine '", m.id.hostname(), "' is down: stop its maintenance before taking it out of the schedule"));
      }
    }
    std::map<std::string, MachineEntry> before = machines_;
    v1::maintenance::Schedule old_schedule = schedule_;
    for (auto it = machines_.begin(); it != machines_.end();) {
      it = wanted.count(it->first) ? std::next(it) : machines_.erase(it);
    }
    for (const auto& [key, entry] : wanted) {
      MachineEntry& m = machines_[key];
      bool changed = m.unavailability.SerializeAsString() != entry.second.SerializeAsString();
      m.id = entry.first;
      m.unavailability = entry.second;
      if (changed) m.statuses.clear();  // a new window asks again
    }
    schedule_ = schedule;
    if (absl::Status s = PersistMaintenance(); !s.ok()) {
      machines_ = std::move(before);
      schedule_ = std::move(old_schedule);
      return absl::UnavailableError(absl::StrCat("cannot record the schedule: ", s.message()));
    }
    // Inverse offers of machines that left the schedule or changed window
    // are withdrawn; the current ones go out below.
    for (auto& [id, agent] : agents_) {
      MachineEntry* m = MachineOf(agent.info.hostname());
      auto was = before.find(HostKey(agent.info.hostname()));
      bool same = m != nullptr && was != before.end() &&
                  was->second.unavailability.SerializeAsString() == m->unavailability.SerializeAsString();
      if (!same) RescindInverseOffers(id);
      // Offers made before the change say the wrong thing about the agent.
      if (!same) {
        for (const std::string& offer_id : std::set<std::string>(agent.offers)) RescindOffer(offer_id, true, 0);
      }
    }
    CORRAL_LOG(INFO) << "Maintenance schedule updated: " << machines_.size() << " machines scheduled";
    SendInverseOffers();
    ScheduleAllocation("");
    return absl::OkStatus();
  });
}

v1::maintenance::ClusterStatus Master::GetMaintenanceStatus() {
  return loop_.Call([this] {
    v1::maintenance::ClusterStatus status;
    for (const auto& [key, m] : machines_) {
      if (m.down) {
        *status.add_down_machines() = m.id;
        continue;
      }
      auto* d = status.add_draining_machines();
      *d->mutable_id() = m.id;
      for (const auto& [fid, st] : m.statuses) *d->add_statuses() = st;
    }
    return status;
  });
}

void Master::SendInverseOffers() {
  if (machines_.empty()) return;
  std::set<std::pair<std::string, std::string>> outstanding;  // (framework, agent)
  for (const auto& [id, io] : inverse_offers_) outstanding.insert({io.framework_id, io.agent_id});
  for (auto& [agent_id, agent] : agents_) {
    MachineEntry* m = MachineOf(agent.info.hostname());
    if (m == nullptr || m->down || !agent.reachable) continue;
    // Frameworks running something there are asked to move off it.
    std::set<std::string> frameworks;
    for (const TaskKey& k : agent.tasks) frameworks.insert(k.first);
    for (const auto& [k, ex] : agent.executors) frameworks.insert(k.first);
    for (const std::string& fid : frameworks) {
      FrameworkEntry* fw = FindFramework(fid);
      if (fw == nullptr || !fw->connected || outstanding.count({fid, agent_id})) continue;
      auto answered = m->statuses.find(fid);
      if (answered != m->statuses.end() && answered->second.status() != v1::allocator::InverseOfferStatus::UNKNOWN)
        continue;
      std::string id = NextId("IO");
      inverse_offers_[id] = InverseOfferEntry{fid, agent_id};
      v1::allocator::InverseOfferStatus& st = m->statuses[fid];
      st.set_status(v1::allocator::InverseOfferStatus::UNKNOWN);
      st.mutable_framework_id()->set_value(fid);
      *st.mutable_timestamp() = TimeOf(clock_->Now());
      Event ev;
      ev.set_type(Event::INVERSE_OFFERS);
      v1::InverseOffer* io = ev.mutable_inverse_offers()->add_inverse_offers();
      io->mutable_id()->set_value(id);
      io->mutable_framework_id()->set_value(fid);
      io->mutable_agent_id()->set_value(agent_id);
      *io->mutable_unavailability() = m->unavailability;
      SendToFramework(*fw, ev);
    }
  }
}

void Master::RescindInverseOffers(const std::string& agent_id) {
  for (auto it = inverse_offers_.begin(); it != inverse_offers_.end();) {
    if (it->second.agent_id != agent_id) {
      ++it;
      continue;
    }
    if (FrameworkEntry* fw = FindFramework(it->second.framework_id)) {
      Event ev;
      ev.set_type(Event::RESCIND_INVERSE_OFFER);
      ev.mutable_rescind_inverse_offer()->mutable_inverse_offer_id()->set_value(it->first);
      SendToFramework(*fw, ev);
    }
    it = inverse_offers_.erase(it);
  }
}

absl::Status Master::AnswerInverseOffers(FrameworkEntry& fw, const google::protobuf::RepeatedPtrField<v1::OfferID>& ids,
                                         v1::allocator::InverseOfferStatus::Status answer) {
  for (const auto& id : ids) {
    auto it = inverse_offers_.find(id.value());
    if (it == inverse_offers_.end()) {
      return absl::NotFoundError(absl::StrCat("inverse offer '", id.value(), "' is unknown or no longer valid"));
    }
    if (it->second.framework_id != fw.id) {
      return absl::PermissionDeniedError(absl::StrCat("inverse offer '", id.value(), "' belongs to another framework"));
    }
  }
  for (const auto& id : ids) {
    auto it = inverse_offers_.find(id.value());
    auto agent = agents_.find(it->second.agent_id);
    if (agent != agents_.end()) {
      if (MachineEntry* m = MachineOf(agent->second.info.hostname())) {
        v1::allocator::InverseOfferStatus& st = m->statuses[fw.id];
        st.set_status(answer);
        st.mutable_framework_id()->set_value(fw.id);
        *st.mutable_timestamp() = TimeOf(clock_->Now());
      }
    }
    inverse_offers_.erase(it);
  }
  return absl::OkStatus();
}

absl::Status Master::StartMaintenance(const std::vector<v1::MachineID>& machines) {
  if (auto s = ValidateMachines(machines, "machines"); !s.ok()) return s;
  return loop_.Call([&]() -> absl::Status {
    for (const auto& id : machines) {
      MachineEntry* m = MachineOf(id.hostname());
      if (m == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("machine '", id.hostname(), "' is not in the maintenance schedule"));
      }
      if (m->down) return absl::FailedPreconditionError(absl::StrCat("machine '", id.hostname(), "' is already down"));
    }
    for (const auto& id : machines) MachineOf(id.hostname())->down = true;
    if (absl::Status s = PersistMaintenance(); !s.ok()) {
      for (const auto& id : machines) MachineOf(id.hostname())->down = false;
      return absl::UnavailableError(absl::StrCat("cannot record the machines as down: ", s.message()));
    }
    std::vector<std::string> removed;
    for (const auto& [agent_id, agent] : agents_) {
      MachineEntry* m = MachineOf(agent.info.hostname());
      if (m != nullptr && m->down) removed.push_back(agent_id);
    }
    for (const std::string& agent_id : removed) {
      RemoveAgentForMaintenance(
          agent_id, absl::StrCat("machine '", agents_[agent_id].info.hostname(), "' is down for maintenance"));
    }
    CORRAL_LOG(INFO) << "Maintenance started on " << machines.size() << " machines; " << removed.size()
                     << " agents removed";
    return absl::OkStatus();
  });
}

void Master::RemoveAgentForMaintenance(const std::string& agent_id, const std::string& why) {
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) return;
  AgentEntry& agent = it->second;
  CORRAL_LOG(WARNING) << "Removing agent " << agent_id << ": " << why;
  RescindInverseOffers(agent_id);
  for (const std::string& offer_id : std::set<std::string>(agent.offers)) RescindOffer(offer_id, false, 0);
  for (const TaskKey& key : std::set<TaskKey>(agent.tasks)) {
    auto t = tasks_.find(key);
    if (t == tasks_.end()) continue;
    if (!IsTerminalState(t->second.state)) {
      FrameworkEntry* fw = FindFramework(key.first);
      v1::TaskState st = LostState(fw && PartitionAware(fw->info), v1::TASK_GONE_BY_OPERATOR);
      t->second.state = st;
      t->second.latest_status.set_state(st);
      t->second.latest_status.set_reason(v1::TaskStatus::REASON_AGENT_REMOVED_BY_OPERATOR);
      if (fw != nullptr) {
        SendMasterUpdate(*fw, &t->second, key.second, agent_id, st, v1::TaskStatus::REASON_AGENT_REMOVED_BY_OPERATOR,
                         why);
      }
    }
    t->second.resources_released = true;  // the agent leaves the allocator
    RemoveTask(key);
  }
  allocator_.RemoveAgent(agent_id);
  if (agent.link) {
    // The agent kills what it runs and stops.
    RefuseAgent(*agent.link, why);
    link_agents_.erase(agent.link_id);
  }
  Event lost;
  lost.set_type(Event::FAILURE);
  lost.mutable_failure()->mutable_agent_id()->set_value(agent_id);
  for (auto& [fid, fw] : frameworks_) SendToFramework(fw, lost);
  if (absl::Status s = registry_->RemoveAgent(agent_id); !s.ok()) {
    CORRAL_LOG(ERROR) << "Cannot remove agent " << agent_id << " from the registry: " << s.message();
  }
  agents_.erase(it);
  PublishAgentRemoved(agent_id);
}

absl::Status Master::StopMaintenance(const std::vector<v1::MachineID>& machines) {
  if (auto s = ValidateMachines(machines, "machines"); !s.ok()) return s;
  return loop_.Call([&]() -> absl::Status {
    for (const auto& id : machines) {
      MachineEntry* m = MachineOf(id.hostname());
      if (m == nullptr || !m->down) {
        return absl::FailedPreconditionError(absl::StrCat("machine '", id.hostname(), "' is not down"));
      }
    }
    std::map<std::string, MachineEntry> before = machines_;
    v1::maintenance::Schedule old_schedule = schedule_;
    // Up again, and out of the schedule.
    std::set<std::string> up;
    for (const auto& id : machines) up.insert(HostKey(id.hostname()));
    v1::maintenance::Schedule schedule;
    for (const auto& w : schedule_.windows()) {
      v1::maintenance::Window kept = w;
      kept.clear_machine_ids();
      for (const auto& id : w.machine_ids())
        if (!up.count(HostKey(id.hostname()))) *kept.add_machine_ids() = id;
      if (kept.machine_ids_size() > 0) *schedule.add_windows() = kept;
    }
    schedule_ = schedule;
    for (const std::string& key : up) machines_.erase(key);
    if (absl::Status s = PersistMaintenance(); !s.ok()) {
      machines_ = std::move(before);
      schedule_ = std::move(old_schedule);
      return absl::UnavailableError(absl::StrCat("cannot record the machines as up: ", s.message()));
    }
    CORRAL_LOG(INFO) << "Maintenance stopped on " << machines.size() << " machines";
    return absl::OkStatus();
  });
}

absl::Status Master::DrainAgent(const std::string& agent_id, const v1::DrainConfig& config) {
  if (agent_id.empty()) return absl::InvalidArgumentError("'agent_id' is required");
  if (config.has_max_grace_period() && config.max_grace_period().nanoseconds() < 0) {
    return absl::InvalidArgumentError("'config.max_grace_period' must not be negative");
  }
  return loop_.Call([&]() -> absl::Status {
    auto it = agents_.find(agent_id);
    if (it == agents_.end()) return absl::NotFoundError(absl::StrCat("agent '", agent_id, "' is unknown"));
    AgentEntry& agent = it->second;
    std::optional<v1::DrainInfo> before = agent.drain;
    v1::DrainInfo info;
    info.set_state(v1::DRAINING);
    *info.mutable_config() = config;
    agent.drain = info;
    if (absl::Status s = PersistMaintenance(); !s.ok()) {
      agent.drain = before;
      return absl::UnavailableError(absl::StrCat("cannot record the drain: ", s.message()));
    }
    CORRAL_LOG(INFO) << "Draining agent " << agent_id;
    for (const std::string& offer_id : std::set<std::string>(agent.offers)) RescindOffer(offer_id, true, 0);
    allocator_.SetAgentActive(agent_id, false);
    KillForDrain(agent);
    ContinueDrain(agent);
    return absl::OkStatus();
  });
}

void Master::KillForDrain(AgentEntry& agent) {
  if (!agent.drain || agent.drain->state() != v1::DRAINING) return;
  for (const TaskKey& key : agent.tasks) {
    auto t = tasks_.find(key);
    if (t == tasks_.end() || IsTerminalState(t->second.state)) continue;
    MasterMessage m;
    auto* k = m.mutable_kill_task();
    k->mutable_framework_id()->set_value(key.first);
    k->mutable_task_id()->set_value(key.second);
    if (agent.drain->config().has_max_grace_period()) {
      *k->mutable_max_grace_period() = agent.drain->config().max_grace_period();
    }
    SendToAgent(agent, m);
  }
}

void Master::ContinueDrain(AgentEntry& agent) {
  if (!agent.drain || agent.drain->state() != v1::DRAINING) return;
  for (const TaskKey& key : agent.tasks) {
    auto t = tasks_.find(key);
    if (t != tasks_.end() && !IsTerminalState(t->second.state)) return;
  }
  agent.drain->set_state(v1::DRAINED);
  CORRAL_LOG(INFO) << "Agent " << agent.id << " is drained";
  if (absl::Status s = PersistMaintenance(); !s.ok()) {
    CORRAL_LOG(ERROR) << "Cannot record agent " << agent.id << " as drained: " << s.message();
  }
  if (agent.drain->config().mark_gone()) {
    RemoveAgentForMaintenance(agent.id, "the agent was drained and marked gone by the operator");
  }
}

absl::Status Master::ReactivateAgent(const std::string& agent_id) {
  if (agent_id.empty()) return absl::InvalidArgumentError("'agent_id' is required");
  return loop_.Call([&]() -> absl::Status {
    auto it = agents_.find(agent_id);
    if (it == agents_.end()) return absl::NotFoundError(absl::StrCat("agent '", agent_id, "' is unknown"));
    AgentEntry& agent = it->second;
    if (!agent.drain) return absl::FailedPreconditionError(absl::StrCat("agent '", agent_id, "' is not draining"));
    std::optional<v1::DrainInfo> before = agent.drain;
    agent.drain.reset();
    if (absl::Status s = PersistMaintenance(); !s.ok()) {
      agent.drain = before;
      return absl::UnavailableError(absl::StrCat("cannot record the reactivation: ", s.message()));
    }
    CORRAL_LOG(INFO) << "Agent " << agent_id << " reactivated";
    if (agent.link && agent.reachable) {
      allocator_.SetAgentActive(agent_id, true);
      ScheduleAllocation(agent_id);
    }
    return absl::OkStatus();
  });
}

}  // namespace corral
