#include "corral/master/master.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "corral/common/frameworks.h"
#include "corral/common/ids.h"
#include "corral/common/logging.h"
#include "corral/common/task_state.h"
#include "absl/strings/ascii.h"
#include "corral/common/version.h"
#include "corral/master/operator_views.h"
#include "corral/master/validation.h"

namespace corral {
namespace {

using v1::internal::MasterMessage;
using v1::scheduler::Call;
using v1::scheduler::Event;

constexpr size_t kMaxCompletedTasks = 1000;
constexpr double kDefaultRefuseSeconds = 5.0;

absl::Duration Seconds(double s) { return absl::Seconds(s); }

// For measuring the master's own work, not for its timers.
double RealSteadySeconds() { return RealClock()->SteadySeconds(); }

// Who a framework acts as under --acls: the principal it subscribed with
// (the authenticated one where frameworks authenticate), if any.
std::optional<std::string> SubjectOf(const v1::FrameworkInfo& info) {
  if (info.principal().empty()) return std::nullopt;
  return info.principal();
}

// The Linux user a task runs as, as Mesos picks it: its command's, else its
// executor's, else the framework's.
std::string TaskUser(const v1::TaskInfo& task, const v1::ExecutorInfo* executor, const v1::FrameworkInfo& fw) {
  if (task.has_command() && task.command().has_user()) return task.command().user();
  if (executor != nullptr && executor->command().has_user()) return executor->command().user();
  return fw.user();
}

}  // namespace

namespace {

// MasterInfo.ip is the IPv4 address as Mesos packs it: in network byte
// order (s_addr). Zero for an address that is not IPv4.
uint32_t PackedIPv4(const std::string& address) {
  in_addr a{};
  if (::inet_pton(AF_INET, address.c_str(), &a) == 1) return a.s_addr;
  return 0;
}

}  // namespace

v1::MasterInfo Master::InfoFor(const MasterOptions& options) {
  v1::MasterInfo info;
  info.set_id(options.id.empty() ? NewIdString() : options.id);
  info.set_hostname(options.hostname);
  info.set_port(options.port);
  info.set_ip(PackedIPv4(options.address));
  info.set_version(kMesosVersion);
  info.set_pid(absl::StrCat("master@", options.address, ":", options.port));
  info.mutable_address()->set_hostname(options.hostname);
  info.mutable_address()->set_ip(options.address);
  info.mutable_address()->set_port(options.port);
  return info;
}

Master::Master(MasterOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock()),
      registry_(NewInMemoryRegistry()),
      loop_("corral-master", clock_) {
  info_ = InfoFor(options_);
  weights_ = options_.weights;
  quotas_ = options_.quotas;
  for (const auto& [role, w] : weights_) allocator_.SetWeight(role, w);
  for (const auto& [role, q] : quotas_) allocator_.SetQuota(role, q);
  start_time_ = clock_->NowSeconds();
  if (options_.flags.empty()) {
    auto& f = options_.flags;
    f["hostname"] = options_.hostname;
    f["ip"] = options_.address;
    f["port"] = absl::StrCat(options_.port);
    f["work_dir"] = options_.work_dir;
    f["agent_ping_timeout"] = absl::StrCat(options_.agent_ping_timeout, "secs");
    f["max_agent_ping_timeouts"] = absl::StrCat(options_.max_agent_ping_timeouts);
    f["offer_timeout"] = absl::StrCat(options_.offer_timeout, "secs");
    f["allocation_interval"] = absl::StrCat(options_.allocation_interval, "secs");
    f["heartbeat_interval"] = absl::StrCat(options_.heartbeat_interval, "secs");
    f["agent_reregister_timeout"] = absl::StrCat(options_.agent_reregister_timeout, "secs");
    f["registry_max_agent_age"] = absl::StrCat(options_.registry_max_agent_age, "secs");
    AddLimitFlags(options_.limits, &f);
    tls::AddTlsFlags(options_.tls, &f);
    // As Mesos's /flags: whether each kind of caller must authenticate.
    const auth::AuthenticationPolicy& a = options_.authentication;
    auto yes = [](bool b) { return b ? "true" : "false"; };
    f["authenticate_frameworks"] = f["authenticate_http_frameworks"] = yes(a.Required(auth::Access::kFramework));
    f["authenticate_agents"] = yes(a.Required(auth::Access::kAgent));
    f["authenticate_http_readonly"] = yes(a.Required(auth::Access::kReadOnly));
    f["authenticate_http_readwrite"] = yes(a.Required(auth::Access::kReadWrite));
  }
  loop_.Post([this] {
    PeriodicAllocation();
    PingAgents();
    SendHeartbeats();
  });
}

Master::~Master() { Stop(); }

absl::Status Master::Recover(std::unique_ptr<Registry> registry) {
  return loop_.Call([&]() -> absl::Status {
    auto state = registry->Recover();
    if (!state.ok()) return state.status();
    registry_ = std::move(registry);
    size_t recovered = 0;
    for (const RegistryState::Agent& a : state->agents) {
      AgentEntry& agent = agents_[a.info.id().value()];
      agent.id = a.info.id().value();
      agent.info = a.info;
      auto total = Resources::FromProto(a.info.resources());
      if (total.ok()) agent.total = *total;
      agent.reachable = false;
      agent.recovered = a.unreachable_since == 0;
      agent.unreachable_since = a.unreachable_since;
      agent.identity = a.identity;
      if (agent.recovered) ++recovered;
    }
    RecoverMaintenance();
    RecoverRoles();
    for (const v1::FrameworkInfo& info : state->frameworks) {
      FrameworkEntry& fw = frameworks_[info.id().value()];
      fw.id = info.id().value();
      fw.info = info;
      fw.roles = validation::FrameworkRoles(info);
      fw.partition_aware = PartitionAware(info);
      fw.connected = false;
      fw.registered_time = clock_->NowSeconds();
      allocator_.AddFramework(fw.id, fw.roles, {}, false);
      // It has its failover timeout, from now, to subscribe again.
      std::string id = fw.id;
      fw.failover_timer = loop_.PostAfter(Seconds(info.failover_timeout()), [this, id] {
        FrameworkEntry* f = FindFramework(id);
        if (f != nullptr && !f->connected) RemoveFramework(id, "failover timeout elapsed after the master restarted");
      });
    }
    if (!state->agents.empty() || !state->frameworks.empty()) {
      CORRAL_LOG(INFO) << "Recovered " << state->agents.size() << " agents (" << recovered
                       << " expected to reregister within " << options_.agent_reregister_timeout << " s) and "
                       << state->frameworks.size() << " frameworks from the registry";
    }
    if (recovered > 0) {
      loop_.PostAfter(Seconds(options_.agent_reregister_timeout), [this] { ExpireRecoveredAgents(); });
    }
    return absl::OkStatus();
  });
}

void Master::ExpireRecoveredAgents() {
  double now = clock_->NowSeconds();
  for (auto& [id, agent] : agents_) {
    if (!agent.recovered) continue;
    agent.recovered = false;
    CORRAL_LOG(WARNING) << "Agent " << id << " did not reregister within --agent_reregister_timeout of the master's "
                        << "restart; marking it unreachable";
    agent.unreachable_since = now;
    if (absl::Status s = registry_->MarkAgentUnreachable(id, now); !s.ok()) {
      CORRAL_LOG(ERROR) << "Cannot record agent " << id << " as unreachable: " << s.message();
    }
    // Frameworks learn it as Mesos tells them: a FAILURE event for the agent.
    Event ev;
    ev.set_type(Event::FAILURE);
    ev.mutable_failure()->mutable_agent_id()->set_value(id);
    for (auto& [fid, fw] : frameworks_) SendToFramework(fw, ev);
  }
}

void Master::Stop() {
  if (loop_.InLoopThread()) return;
  loop_.Call([&] {
    stopped_ = true;
    for (auto& [id, fw] : frameworks_)
      if (fw.sink) fw.sink->Close();
    for (auto& subscriber : operator_sinks_) subscriber.sink->Close();
    operator_sinks_.clear();
    for (auto& [id, agent] : agents_)
      if (agent.link) agent.link->Close();
    for (auto& [id, pending] : pending_links_) pending.link->Close();
    return 0;
  });
  loop_.Stop();
}

v1::MasterInfo Master::info() {
  return loop_.Call([this] { return info_; });
}

void Master::SetAdvertisedPort(int port) {
  loop_.Call([&] {
    options_.port = port;
    info_.set_port(port);
    info_.mutable_address()->set_port(port);
    info_.set_pid(absl::StrCat("master@", options_.address, ":", port));
    return 0;
  });
}

std::string Master::NextId(const char* prefix) { return absl::StrCat(info_.id(), "-", prefix, next_id_++); }

Master::FrameworkEntry* Master::FindFramework(const std::string& id) {
  auto it = frameworks_.find(id);
  return it == frameworks_.end() ? nullptr : &it->second;
}

Master::AgentEntry* Master::FindAgentByLink(uint64_t link_id) {
  auto it = link_agents_.find(link_id);
  if (it == link_agents_.end()) return nullptr;
  auto a = agents_.find(it->second);
  return a == agents_.end() ? nullptr : &a->second;
}

// --- scheduler API ----------------------------------------------------------

absl::StatusOr<std::string> Master::Subscribe(const Call& call, std::shared_ptr<SchedulerSink> sink,
                                              const std::optional<std::string>& principal) {
  if (auto s = validation::ValidateSubscribe(call); !s.ok()) return s;
  const v1::FrameworkInfo& info = call.subscribe().framework_info();
  if (principal && info.principal() != *principal) {
    return absl::InvalidArgumentError(absl::StrCat("Authenticated principal '", *principal,
                                                   "' does not match principal '", info.principal(),
                                                   "' set in `FrameworkInfo`"));
  }
  auto id = loop_.Call([&] { return DoSubscribe(call, sink); });
  if (!id.ok()) {
    // Said here too: the framework's own log may be far away.
    CORRAL_LOG(WARNING) << "Refused the subscription of framework '" << info.name() << "'"
                        << (info.has_id() ? absl::StrCat(" (", info.id().value(), ")") : "") << ": "
                        << id.status().message();
  }
  return id;
}

absl::Status Master::HandleCall(const Call& call, const std::optional<std::string>& principal) {
  if (auto s = validation::ValidateCall(call); !s.ok()) return s;
  if (call.type() == Call::SUBSCRIBE) {
    return absl::InvalidArgumentError("SUBSCRIBE must be sent on a subscription stream");
  }
  return loop_.Call([&]() -> absl::Status {
    if (principal) {
      const FrameworkEntry* fw = FindFramework(call.framework_id().value());
      if (fw != nullptr && fw->info.principal() != *principal) {
        return absl::PermissionDeniedError(absl::StrCat("principal '", *principal, "' may not call for framework '",
                                                        fw->id, "', which belongs to principal '", fw->info.principal(),
                                                        "'"));
      }
    }
    return DoCall(call);
  });
}

void Master::SubscriberGone(const std::string& framework_id, SchedulerSink* sink) {
  loop_.Post([this, framework_id, sink] {
    FrameworkEntry* fw = FindFramework(framework_id);
    if (fw == nullptr || fw->sink.get() != sink) return;  // already replaced
    CORRAL_LOG(INFO) << "Framework " << framework_id << " disconnected; failover timeout "
                     << fw->info.failover_timeout() << "s";
    fw->sink.reset();
    fw->connected = false;
    allocator_.SetFrameworkActive(framework_id, false);
    // Its outstanding offers go back to the pool.
    for (const std::string& offer_id : std::set<std::string>(fw->offers)) RescindOffer(offer_id, true, 0);
    fw->failover_timer = loop_.PostAfter(Seconds(fw->info.failover_timeout()), [this, framework_id] {
      FrameworkEntry* f = FindFramework(framework_id);
      if (f != nullptr && !f->connected) RemoveFramework(framework_id, "failover timeout elapsed");
    });
  });
}

void Master::ApplyOfferConstraints(const FrameworkEntry& fw, std::shared_ptr<const OfferConstraints> constraints) {
  if (fw.offer_constraints.role_constraints_size() == 0) return allocator_.SetAgentAdmission(fw.id, nullptr);
  allocator_.SetAgentAdmission(fw.id, [this, constraints](const std::string& agent_id, const std::string& role) {
    auto it = agents_.find(agent_id);
    return it == agents_.end() || constraints->Admits(role, it->second.info);
  });
}

absl::StatusOr<std::string> Master::DoSubscribe(const Call& call, std::shared_ptr<SchedulerSink> sink) {
  if (stopped_) return absl::UnavailableError("master is stopping");
  v1::FrameworkInfo info = call.subscribe().framework_info();
  std::string id = info.has_id() ? info.id().value() : NextId("F");
  info.mutable_id()->set_value(id);
  if (info.user().empty()) info.set_user("nobody");
  auto constraints = OfferConstraints::Compile(call.subscribe().offer_constraints(), validation::FrameworkRoles(info));
  if (!constraints.ok()) return constraints.status();

  FrameworkEntry* fw = FindFramework(id);
  const bool is_new = fw == nullptr;
  // Whoever subscribes with a framework's ID takes its stream over: as
  // Mesos, that needs the framework's own principal, and the user its tasks
  // run as is fixed.
  if (fw != nullptr) {
    if (info.principal() != fw->info.principal()) {
      return absl::PermissionDeniedError(absl::StrCat("framework '", id, "' belongs to principal '",
                                                      fw->info.principal(), "'; it cannot be resubscribed as '",
                                                      info.principal(), "'"));
    }
    if (info.user() != fw->info.user()) {
      return absl::InvalidArgumentError("Updating 'FrameworkInfo.user' is unsupported");
    }
    if (info.checkpoint() != fw->info.checkpoint()) {
      return absl::InvalidArgumentError("Updating 'FrameworkInfo.checkpoint' is unsupported");
    }
  }
  if (absl::Status st = AuthorizeRoles(info); !st.ok()) return st;
  // A commit point: the framework exists once the registry says so.
  if (fw == nullptr || fw->info.SerializeAsString() != info.SerializeAsString()) {
    if (absl::Status s = registry_->AddFramework(info); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("cannot record the framework: ", s.message()));
    }
  }
  if (fw == nullptr) {
    fw = &frameworks_[id];
    fw->id = id;
    fw->registered_time = clock_->NowSeconds();
    CORRAL_LOG(INFO) << "Framework " << id << " (" << info.name() << ") subscribed";
  } else {
    CORRAL_LOG(INFO) << "Framework " << id << " (" << info.name() << ") resubscribed";
    if (fw->sink && fw->sink != sink) {
      Event err;
      err.set_type(Event::ERROR);
      err.mutable_error()->set_message("Framework failed over");
      fw->sink->Send(err);
      fw->sink->Close();
    }
    if (fw->failover_timer) loop_.Cancel(fw->failover_timer);
    fw->failover_timer = 0;
    // Offers made to the old connection are rescinded; new ones follow.
    for (const std::string& offer_id : std::set<std::string>(fw->offers)) RescindOffer(offer_id, true, 0);
  }
  fw->info = info;
  fw->roles = validation::FrameworkRoles(info);
  fw->partition_aware = PartitionAware(info);
  fw->offer_constraints = call.subscribe().offer_constraints();
  fw->sink = std::move(sink);
  fw->connected = true;
  std::set<std::string> suppressed(call.subscribe().suppressed_roles().begin(),
                                   call.subscribe().suppressed_roles().end());
  allocator_.AddFramework(id, fw->roles, suppressed, true);
  ApplyOfferConstraints(*fw, *constraints);

  Event ev;
  ev.set_type(Event::SUBSCRIBED);
  ev.mutable_subscribed()->mutable_framework_id()->set_value(id);
  ev.mutable_subscribed()->set_heartbeat_interval_seconds(options_.heartbeat_interval);
  *ev.mutable_subscribed()->mutable_master_info() = info_;
  SendToFramework(*fw, ev);
  PublishFramework(*fw, is_new ? v1::master::Event::FRAMEWORK_ADDED : v1::master::Event::FRAMEWORK_UPDATED);
  // Agents holding its unacknowledged updates resend them now.
  MasterMessage resubscribed;
  resubscribed.mutable_framework_resubscribed()->mutable_framework_id()->set_value(id);
  std::set<std::string> holding;
  for (const std::string& tid : fw->tasks) {
    auto t = tasks_.find({id, tid});
    if (t != tasks_.end()) holding.insert(t->second.agent_id);
  }
  for (const std::string& aid : holding) {
    auto agent = agents_.find(aid);
    if (agent != agents_.end()) SendToAgent(agent->second, resubscribed);
  }
  ScheduleAllocation("");
  return id;
}

absl::Status Master::DoCall(const Call& call) {
  if (stopped_) return absl::UnavailableError("master is stopping");
  FrameworkEntry* fw = FindFramework(call.framework_id().value());
  if (fw == nullptr) {
    return absl::NotFoundError(absl::StrCat("framework '", call.framework_id().value(), "' is not subscribed"));
  }
  if (!fw->connected) {
    return absl::FailedPreconditionError(
        absl::StrCat("framework '", fw->id, "' is disconnected; subscribe again first"));
  }
  switch (call.type()) {
    case Call::TEARDOWN: RemoveFramework(fw->id, "framework requested teardown"); return absl::OkStatus();
    case Call::ACCEPT: return Accept(*fw, call.accept());
    case Call::ACCEPT_INVERSE_OFFERS:
      return AnswerInverseOffers(*fw, call.accept_inverse_offers().inverse_offer_ids(),
                                 v1::allocator::InverseOfferStatus::ACCEPT);
    case Call::DECLINE_INVERSE_OFFERS:
      return AnswerInverseOffers(*fw, call.decline_inverse_offers().inverse_offer_ids(),
                                 v1::allocator::InverseOfferStatus::DECLINE);
    case Call::DECLINE: return Decline(*fw, call.decline());
    case Call::REVIVE: {
      std::vector<std::string> roles(call.revive().roles().begin(), call.revive().roles().end());
      for (const std::string& r : roles) {
        if (std::find(fw->roles.begin(), fw->roles.end(), r) == fw->roles.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat("'revive.roles': framework is not subscribed to role '", r, "'"));
        }
      }
      allocator_.Revive(fw->id, roles);
      ScheduleAllocation("");
      return absl::OkStatus();
    }
    case Call::SUPPRESS: {
      std::vector<std::string> roles(call.suppress().roles().begin(), call.suppress().roles().end());
      for (const std::string& r : roles) {
        if (std::find(fw->roles.begin(), fw->roles.end(), r) == fw->roles.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat("'suppress.roles': framework is not subscribed to role '", r, "'"));
        }
      }
      allocator_.Suppress(fw->id, roles);
      return absl::OkStatus();
    }
    case Call::KILL: return Kill(*fw, call.kill());
    case Call::SHUTDOWN: return ShutdownExecutor(*fw, call.shutdown());
    case Call::ACKNOWLEDGE: return Acknowledge(*fw, call.acknowledge());
    case Call::RECONCILE: return Reconcile(*fw, call.reconcile());
    case Call::MESSAGE: return Message(*fw, call.message());
    case Call::REQUEST: return absl::OkStatus();  // as Mesos's allocator: no effect
    case Call::UPDATE_FRAMEWORK: return UpdateFramework(*fw, call.update_framework());
    default:
      return absl::UnimplementedError(absl::StrCat("call type ", Call::Type_Name(call.type()), " is not supported"));
  }
}

absl::Status Master::AuthorizeRoles(const v1::FrameworkInfo& info) {
  if (options_.authorizer == nullptr) return absl::OkStatus();
  for (const std::string& role : validation::FrameworkRoles(info)) {
    if (auto st = auth::Authorize(options_.authorizer.get(), auth::Action::kRegisterFrameworks, SubjectOf(info), role);
        !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

absl::Status Master::UpdateFramework(FrameworkEntry& fw, const Call::UpdateFramework& update) {
  v1::FrameworkInfo info = update.framework_info();
  // As Mesos: who the framework is and whether it checkpoints are fixed at
  // its first subscription.
  if (info.user() != fw.info.user()) {
    return absl::InvalidArgumentError("Updating 'FrameworkInfo.user' is unsupported");
  }
  if (info.principal() != fw.info.principal()) {
    return absl::InvalidArgumentError("Updating 'FrameworkInfo.principal' is unsupported");
  }
  if (info.checkpoint() != fw.info.checkpoint()) {
    return absl::InvalidArgumentError("Updating 'FrameworkInfo.checkpoint' is unsupported");
  }
  auto constraints = OfferConstraints::Compile(update.offer_constraints(), validation::FrameworkRoles(info));
  if (!constraints.ok()) return constraints.status();
  if (absl::Status st = AuthorizeRoles(info); !st.ok()) return st;
  if (info.SerializeAsString() != fw.info.SerializeAsString()) {
    if (absl::Status s = registry_->AddFramework(info); !s.ok()) {
      return absl::UnavailableError(absl::StrCat("cannot record the framework: ", s.message()));
    }
  }
  fw.info = std::move(info);
  fw.roles = validation::FrameworkRoles(fw.info);
  fw.partition_aware = PartitionAware(fw.info);
  fw.offer_constraints = update.offer_constraints();
  // Offers for roles it left, and offers whose form (allocation_info) it no
  // longer expects, go back; new ones follow.
  for (const std::string& offer_id : std::set<std::string>(fw.offers)) RescindOffer(offer_id, true, 0);
  allocator_.AddFramework(fw.id, fw.roles, {update.suppressed_roles().begin(), update.suppressed_roles().end()},
                          fw.connected);
  ApplyOfferConstraints(fw, *constraints);
  PublishFramework(fw, v1::master::Event::FRAMEWORK_UPDATED);
  ScheduleAllocation("");
  return absl::OkStatus();
}

absl::Status Master::Accept(FrameworkEntry& fw, const Call::Accept& accept) {
  // Offers first: all must exist, be this framework's, be on one agent.
  std::string agent_id, role;
  Resources offered;
  std::set<std::string> seen;
  std::string offer_error;
  for (const auto& oid : accept.offer_ids()) {
    auto it = offers_.find(oid.value());
    if (!seen.insert(oid.value()).second) {
      offer_error = absl::StrCat("offer '", oid.value(), "' appears twice");
      break;
    }
    if (it == offers_.end()) {
      offer_error = absl::StrCat("offer '", oid.value(), "' is unknown or no longer valid");
      break;
    }
    if (it->second.framework_id != fw.id) {
      offer_error = absl::StrCat("offer '", oid.value(), "' belongs to another framework");
      break;
    }
    if (!agent_id.empty() && it->second.agent_id != agent_id) {
      offer_error = "offers are on different agents";
      break;
    }
    if (!role.empty() && it->second.role != role) {
      offer_error = "offers are allocated to different roles";
      break;
    }
    agent_id = it->second.agent_id;
    role = it->second.role;
  }
  if (!offer_error.empty()) {
    // The call's valid offers are rescinded (their resources go back to
    // the pool), as Mesos does with every offer of an invalid ACCEPT.
    for (const auto& oid : accept.offer_ids()) {
      auto it = offers_.find(oid.value());
      if (it != offers_.end() && it->second.framework_id == fw.id) RescindOffer(oid.value(), true, 0);
    }
    // Every task in the call is dropped, with the reason.
    for (const auto& op : accept.operations()) {
      std::vector<const v1::TaskInfo*> tasks;
      if (op.type() == v1::Offer::Operation::LAUNCH)
        for (const auto& t : op.launch().task_infos()) tasks.push_back(&t);
      if (op.type() == v1::Offer::Operation::LAUNCH_GROUP)
        for (const auto& t : op.launch_group().task_group().tasks()) tasks.push_back(&t);
      for (const v1::TaskInfo* t : tasks) {
        SendMasterUpdate(fw, nullptr, t->task_id().value(), t->agent_id().value(),
                         LostState(fw.partition_aware, v1::TASK_DROPPED), v1::TaskStatus::REASON_INVALID_OFFERS,
                         offer_error);
      }
    }
    return absl::InvalidArgumentError(absl::StrCat("'accept.offer_ids': ", offer_error));
  }
  for (const auto& oid : accept.offer_ids()) {
    offered += offers_[oid.value()].resources;
    RemoveOffer(oid.value());
  }
  auto agent_it = agents_.find(agent_id);
  AgentEntry* agent = agent_it == agents_.end() ? nullptr : &agent_it->second;

  Resources remaining = offered;
  for (const auto& op : accept.operations()) {
    switch (op.type()) {
      case v1::Offer::Operation::LAUNCH:
      case v1::Offer::Operation::LAUNCH_GROUP: {
        bool group = op.type() == v1::Offer::Operation::LAUNCH_GROUP;
        std::vector<const v1::TaskInfo*> tasks;
        if (group)
          for (const auto& t : op.launch_group().task_group().tasks()) tasks.push_back(&t);
        else
          for (const auto& t : op.launch().task_infos()) tasks.push_back(&t);

        // Validate every task; a group is all-or-nothing.
        std::vector<Resources> task_resources(tasks.size());
        std::vector<std::string> errors(tasks.size());
        std::vector<bool> unauthorized(tasks.size());
        std::set<std::string> ids_in_call;
        Resources needed;
        std::map<std::string, Resources> new_executors;  // executor ID -> resources
        std::string group_error;
        const v1::ExecutorInfo* group_executor = group ? &op.launch_group().executor() : nullptr;
        if (group) {
          if (tasks.empty())
            group_error = "'launch_group.task_group.tasks' is empty";
          else if (!op.launch_group().has_executor())
            group_error = "'launch_group.executor' is required";
          else if (auto s = validation::ValidateExecutor(*group_executor, fw.id); !s.ok())
            group_error = std::string(s.message());
        }
        for (size_t i = 0; i < tasks.size(); ++i) {
          const v1::TaskInfo& t = *tasks[i];
          absl::Status s = validation::ValidateTask(t, agent_id, &task_resources[i]);
          if (s.ok() && group && (t.has_health_check() || t.has_check()) &&
              group_executor->type() != v1::ExecutorInfo::CUSTOM) {
            // The agent checks command tasks and a custom executor its own;
            // the default executor does not run checks yet.
            s = absl::InvalidArgumentError(
                absl::StrCat("task '", t.task_id().value(), "': '", t.has_health_check() ? "health_check" : "check",
                             "' is not supported in a task group run by the default executor"));
          }
          if (s.ok() && !ids_in_call.insert(t.task_id().value()).second) {
            s = absl::InvalidArgumentError(
                absl::StrCat("task '", t.task_id().value(), "': 'task_id' is used twice in this call"));
          }
          if (s.ok() && tasks_.count({fw.id, t.task_id().value()})) {
            s = absl::InvalidArgumentError(
                absl::StrCat("task '", t.task_id().value(), "': 'task_id' is already used by an active task"));
          }
          if (s.ok() && group && !t.has_command()) {
            s = absl::InvalidArgumentError(
                absl::StrCat("task '", t.task_id().value(), "': tasks in a group need 'command'"));
          }
          if (s.ok() && group && t.has_executor() &&
              t.executor().executor_id().value() != group_executor->executor_id().value()) {
            s = absl::InvalidArgumentError(
                absl::StrCat("task '", t.task_id().value(), "': 'executor' differs from the group's executor"));
          }
          if (s.ok() && !group && t.has_executor()) s = validation::ValidateExecutor(t.executor(), fw.id);
          if (s.ok() && options_.authorizer != nullptr) {
            // As Mesos: the task's user, and its executor's where that names one.
            const v1::ExecutorInfo* ex = group ? group_executor : (t.has_executor() ? &t.executor() : nullptr);
            s = auth::Authorize(options_.authorizer.get(), auth::Action::kRunTasks, SubjectOf(fw.info),
                                TaskUser(t, ex, fw.info));
            if (s.ok() && ex != nullptr && ex->command().has_user()) {
              s = auth::Authorize(options_.authorizer.get(), auth::Action::kRunTasks, SubjectOf(fw.info),
                                  ex->command().user());
            }
            unauthorized[i] = !s.ok();
          }
          if (s.ok()) {
            Resources need = task_resources[i];
            const v1::ExecutorInfo* ex = group ? group_executor : (t.has_executor() ? &t.executor() : nullptr);
            std::string new_executor;
            Resources executor_resources;
            if (ex != nullptr && agent != nullptr) {
              std::string eid = ex->executor_id().value();
              bool running = agent->executors.count({fw.id, eid}) > 0;
              if (!running && !new_executors.count(eid)) {
                executor_resources = *Resources::FromProto(ex->resources());
                need += executor_resources;
                new_executor = eid;
              }
            }
            if (!(remaining - needed).Contains(need)) {
              s = absl::InvalidArgumentError(absl::StrCat("task '", t.task_id().value(), "' needs ", need.ToString(),
                                                          " but the offers have only ", (remaining - needed).ToString(),
                                                          " left"));
            } else {
              needed += need;
              if (!new_executor.empty()) new_executors[new_executor] = executor_resources;
            }
          }
          if (!s.ok()) errors[i] = std::string(s.message());
        }
        bool group_unauthorized = false;
        if (group && group_error.empty()) {
          for (size_t i = 0; i < errors.size(); ++i)
            if (!errors[i].empty()) {
              group_error = errors[i];
              group_unauthorized = unauthorized[i];
              break;
            }
        }
        if (agent == nullptr || !agent->reachable) {
          std::string why = agent == nullptr ? "agent is gone" : "agent is unreachable";
          for (const v1::TaskInfo* t : tasks) {
            SendMasterUpdate(fw, nullptr, t->task_id().value(), agent_id,
                             LostState(fw.partition_aware, v1::TASK_DROPPED), v1::TaskStatus::REASON_AGENT_REMOVED,
                             why);
          }
          break;
        }
        if (group && !group_error.empty()) {
          for (const v1::TaskInfo* t : tasks) {
            SendMasterUpdate(fw, nullptr, t->task_id().value(), agent_id, v1::TASK_ERROR,
                             group_unauthorized ? v1::TaskStatus::REASON_TASK_GROUP_UNAUTHORIZED
                                                : v1::TaskStatus::REASON_TASK_GROUP_INVALID,
                             group_error);
          }
          break;
        }
        // Launch the valid ones.
        std::vector<const v1::TaskInfo*> launched;
        for (size_t i = 0; i < tasks.size(); ++i) {
          const v1::TaskInfo& t = *tasks[i];
          if (!errors[i].empty()) {
            SendMasterUpdate(
                fw, nullptr, t.task_id().value(), agent_id, v1::TASK_ERROR,
                unauthorized[i] ? v1::TaskStatus::REASON_TASK_UNAUTHORIZED : v1::TaskStatus::REASON_TASK_INVALID,
                errors[i]);
            continue;
          }
          TaskEntry task;
          task.task_id = t.task_id().value();
          task.name = t.name();
          task.framework_id = fw.id;
          task.agent_id = agent_id;
          task.role = role;
          task.resources = task_resources[i];
          const v1::ExecutorInfo* ex = group ? group_executor : (t.has_executor() ? &t.executor() : nullptr);
          if (ex != nullptr) task.executor_id = ex->executor_id().value();
          task.user = TaskUser(t, ex, fw.info);
          task.latest_status.mutable_task_id()->set_value(task.task_id);
          task.latest_status.set_state(v1::TASK_STAGING);
          task.latest_status.mutable_agent_id()->set_value(agent_id);
          task.latest_status.set_timestamp(clock_->NowSeconds());
          if (ex != nullptr) {
            ExecutorEntry& ee = agent->executors[{fw.id, task.executor_id}];
            if (ee.tasks.empty() && ee.resources.Empty()) {
              ee.role = role;
              ee.user = ex->command().has_user() ? ex->command().user() : fw.info.user();
              ee.resources = *Resources::FromProto(ex->resources());
            }
            ee.tasks.insert(task.task_id);
          }
          remaining -= task.resources;
          agent->tasks.insert({fw.id, task.task_id});
          fw.tasks.insert(task.task_id);
          PublishTaskAdded(tasks_[{fw.id, task.task_id}] = std::move(task));
          launched.push_back(&t);
        }
        for (auto& [eid, er] : new_executors) remaining -= er;
        if (launched.empty()) break;
        if (group) {
          MasterMessage m;
          auto* run = m.mutable_run_task_group();
          *run->mutable_framework() = fw.info;
          *run->mutable_executor() = *group_executor;
          run->mutable_executor()->mutable_framework_id()->set_value(fw.id);
          for (const v1::TaskInfo* t : launched) *run->mutable_task_group()->add_tasks() = *t;
          SendToAgent(*agent, m);
        } else {
          for (const v1::TaskInfo* t : launched) {
            MasterMessage m;
            auto* run = m.mutable_run_task();
            *run->mutable_framework() = fw.info;
            *run->mutable_task() = *t;
            if (t->has_executor()) run->mutable_task()->mutable_executor()->mutable_framework_id()->set_value(fw.id);
            SendToAgent(*agent, m);
          }
        }
        break;
      }
      default: {
        std::string msg =
            absl::StrCat("operation ", v1::Offer::Operation::Type_Name(op.type()), " is not supported by this master");
        Event ev;
        ev.set_type(Event::ERROR);
        ev.mutable_error()->set_message(msg);
        SendToFramework(fw, ev);
        CORRAL_LOG(WARNING) << "Framework " << fw.id << ": " << msg;
        break;
      }
    }
  }
  double refuse = accept.has_filters() ? accept.filters().refuse_seconds() : kDefaultRefuseSeconds;
  if (refuse < 0) refuse = kDefaultRefuseSeconds;
  if (!remaining.Empty()) {
    allocator_.Recover(fw.id, role, agent_id, remaining, refuse, clock_->SteadySeconds());
    if (refuse <= 0) ScheduleAllocation(agent_id);
  }
  return absl::OkStatus();
}

absl::Status Master::Decline(FrameworkEntry& fw, const Call::Decline& decline) {
  double refuse = decline.has_filters() ? decline.filters().refuse_seconds() : kDefaultRefuseSeconds;
  if (refuse < 0) refuse = kDefaultRefuseSeconds;
  std::string error;
  for (const auto& oid : decline.offer_ids()) {
    auto it = offers_.find(oid.value());
    if (it == offers_.end() || it->second.framework_id != fw.id) {
      error = absl::StrCat("offer '", oid.value(), "' is unknown or no longer valid");
      continue;
    }
    RescindOffer(oid.value(), true, refuse);
  }
  if (!error.empty()) return absl::InvalidArgumentError(absl::StrCat("'decline.offer_ids': ", error));
  return absl::OkStatus();
}

absl::Status Master::Kill(FrameworkEntry& fw, const Call::Kill& kill) {
  auto it = tasks_.find({fw.id, kill.task_id().value()});
  if (it == tasks_.end()) {
    SendMasterUpdate(fw, nullptr, kill.task_id().value(), kill.agent_id().value(),
                     LostState(fw.partition_aware, v1::TASK_UNKNOWN), v1::TaskStatus::REASON_RECONCILIATION,
                     "task is not known to the master");
    return absl::OkStatus();
  }
  TaskEntry& task = it->second;
  auto agent = agents_.find(task.agent_id);
  if (agent == agents_.end()) return absl::OkStatus();
  MasterMessage m;
  m.mutable_kill_task()->mutable_framework_id()->set_value(fw.id);
  m.mutable_kill_task()->mutable_task_id()->set_value(task.task_id);
  if (kill.has_kill_policy()) *m.mutable_kill_task()->mutable_kill_policy() = kill.kill_policy();
  SendToAgent(agent->second, m);
  return absl::OkStatus();
}

absl::Status Master::Acknowledge(FrameworkEntry& fw, const Call::Acknowledge& ack) {
  auto agent = agents_.find(ack.agent_id().value());
  if (agent == agents_.end()) {
    return absl::NotFoundError(absl::StrCat("'acknowledge.agent_id': agent '", ack.agent_id().value(), "' is unknown"));
  }
  TaskKey key{fw.id, ack.task_id().value()};
  auto it = tasks_.find(key);
  if (it == tasks_.end()) {
    return absl::NotFoundError(absl::StrCat("'acknowledge.task_id': task '", ack.task_id().value(), "' is unknown"));
  }
  MasterMessage m;
  auto* a = m.mutable_acknowledgement();
  a->mutable_framework_id()->set_value(fw.id);
  a->mutable_task_id()->set_value(ack.task_id().value());
  a->set_uuid(ack.uuid());
  SendToAgent(agent->second, m);
  if (!it->second.terminal_uuid.empty() && it->second.terminal_uuid == ack.uuid()) RemoveTask(key);
  return absl::OkStatus();
}

absl::Status Master::Reconcile(FrameworkEntry& fw, const Call::Reconcile& rec) {
  auto send_status = [&](const v1::TaskStatus& latest) {
    Event ev;
    ev.set_type(Event::UPDATE);
    v1::TaskStatus* st = ev.mutable_update()->mutable_status();
    *st = latest;
    st->clear_uuid();
    st->set_source(v1::TaskStatus::SOURCE_MASTER);
    st->set_reason(v1::TaskStatus::REASON_RECONCILIATION);
    st->set_timestamp(clock_->NowSeconds());
    SendToFramework(fw, ev);
  };
  auto send = [&](const TaskEntry& task) { send_status(task.latest_status); };
  if (rec.tasks_size() == 0) {
    for (const std::string& tid : fw.tasks) send(tasks_[{fw.id, tid}]);
    return absl::OkStatus();
  }
  for (const auto& t : rec.tasks()) {
    auto it = tasks_.find({fw.id, t.task_id().value()});
    if (it != tasks_.end()) {
      send(it->second);
      continue;
    }
    // A task that ended recently (its terminal update acknowledged, maybe
    // while this call was on its way) is answered with how it ended, rather
    // than as unknown.
    const v1::Task* completed = nullptr;
    for (const v1::Task& c : completed_tasks_) {
      if (c.task_id().value() == t.task_id().value() && c.framework_id().value() == fw.id) completed = &c;
    }
    if (completed != nullptr && completed->statuses_size() > 0 && IsTerminalState(completed->state())) {
      v1::TaskStatus last = completed->statuses(completed->statuses_size() - 1);
      last.set_state(completed->state());
      send_status(last);
      continue;
    }
    std::string agent_id = t.agent_id().value();
    auto agent = agents_.find(agent_id);
    v1::TaskState state;
    std::string why;
    if (!agent_id.empty() && agent != agents_.end() && agent->second.recovered) {
      // The agent has not reregistered since the master restarted: it may
      // still report the task. No answer yet, as in Mesos.
      continue;
    }
    if (!agent_id.empty() && agent != agents_.end() && !agent->second.reachable) {
      state = LostState(fw.partition_aware, v1::TASK_UNREACHABLE);
      why = "agent is unreachable";
    } else if (!agent_id.empty() && agent == agents_.end()) {
      state = LostState(fw.partition_aware, v1::TASK_UNKNOWN);
      why = "agent is unknown";
    } else if (!agent_id.empty()) {
      // The agent is registered and does not have it: the task is gone.
      state = LostState(fw.partition_aware, v1::TASK_GONE);
      why = "task is unknown to its agent";
    } else {
      state = LostState(fw.partition_aware, v1::TASK_UNKNOWN);
      why = "task is unknown";
    }
    SendMasterUpdate(fw, nullptr, t.task_id().value(), agent_id, state, v1::TaskStatus::REASON_RECONCILIATION, why);
  }
  return absl::OkStatus();
}

absl::Status Master::Message(FrameworkEntry& fw, const Call::Message& msg) {
  auto agent = agents_.find(msg.agent_id().value());
  if (agent == agents_.end()) {
    return absl::NotFoundError(absl::StrCat("'message.agent_id': agent '", msg.agent_id().value(), "' is unknown"));
  }
  if (!agent->second.executors.count({fw.id, msg.executor_id().value()})) {
    return absl::NotFoundError(absl::StrCat("'message.executor_id': executor '", msg.executor_id().value(),
                                            "' is not running on agent '", msg.agent_id().value(), "'"));
  }
  MasterMessage m;
  auto* fm = m.mutable_framework_message();
  fm->mutable_framework_id()->set_value(fw.id);
  *fm->mutable_executor_id() = msg.executor_id();
  fm->set_data(msg.data());
  SendToAgent(agent->second, m);
  return absl::OkStatus();
}

absl::Status Master::ShutdownExecutor(FrameworkEntry& fw, const Call::Shutdown& sd) {
  auto agent = agents_.find(sd.agent_id().value());
  if (agent == agents_.end()) {
    return absl::NotFoundError(absl::StrCat("'shutdown.agent_id': agent '", sd.agent_id().value(), "' is unknown"));
  }
  MasterMessage m;
  m.mutable_shutdown_executor()->mutable_framework_id()->set_value(fw.id);
  *m.mutable_shutdown_executor()->mutable_executor_id() = sd.executor_id();
  SendToAgent(agent->second, m);
  return absl::OkStatus();
}

void Master::RemoveFramework(const std::string& id, const std::string& why) {
  // A copy: callers pass fw->id, which dies with the framework's entry below.
  const std::string framework_id = id;
  FrameworkEntry* fw = FindFramework(framework_id);
  if (fw == nullptr) return;
  CORRAL_LOG(INFO) << "Removing framework " << framework_id << ": " << why;
  PublishFramework(*fw, v1::master::Event::FRAMEWORK_REMOVED);
  for (const std::string& offer_id : std::set<std::string>(fw->offers)) RescindOffer(offer_id, true, 0);
  for (const std::string& tid : std::set<std::string>(fw->tasks)) {
    TaskKey key{framework_id, tid};
    auto it = tasks_.find(key);
    if (it == tasks_.end()) continue;
    ReleaseTaskResources(it->second);
    it->second.latest_status.set_state(v1::TASK_KILLED);
    it->second.latest_status.set_reason(v1::TaskStatus::REASON_FRAMEWORK_REMOVED);
    it->second.state = v1::TASK_KILLED;
    RemoveTask(key);
  }
  // Every agent hears of it, as from Mesos: one that ran the framework's
  // tasks keeps it among its frameworks (and in /state) until told.
  for (auto& [aid, agent] : agents_) {
    for (auto it = agent.executors.begin(); it != agent.executors.end();) {
      if (it->first.first == framework_id) {
        allocator_.Recover(framework_id, it->second.role, aid, it->second.resources, 0, clock_->SteadySeconds());
        it = agent.executors.erase(it);
      } else {
        ++it;
      }
    }
    MasterMessage m;
    m.mutable_shutdown_framework()->mutable_framework_id()->set_value(framework_id);
    SendToAgent(agent, m);
  }
  if (fw->failover_timer) loop_.Cancel(fw->failover_timer);
  if (fw->sink) fw->sink->Close();
  for (auto it = inverse_offers_.begin(); it != inverse_offers_.end();) {
    it = it->second.framework_id == framework_id ? inverse_offers_.erase(it) : std::next(it);
  }
  for (auto& [key, m] : machines_) m.statuses.erase(framework_id);
  allocator_.RemoveFramework(framework_id);
  frameworks_.erase(framework_id);
  if (absl::Status s = registry_->RemoveFramework(framework_id); !s.ok()) {
    CORRAL_LOG(ERROR) << "Cannot remove framework " << framework_id << " from the registry: " << s.message();
  }
  ScheduleAllocation("");
}

// --- agents -------------------------------------------------------------------

uint64_t Master::AgentConnected(std::shared_ptr<AgentLink> link, const std::optional<std::string>& principal) {
  return loop_.Call([&] {
    uint64_t id = next_link_++;
    pending_links_[id] = {std::move(link), principal};
    return id;
  });
}

void Master::AgentDisconnected(uint64_t link_id) {
  loop_.Post([this, link_id] {
    pending_links_.erase(link_id);
    AgentEntry* agent = FindAgentByLink(link_id);
    link_agents_.erase(link_id);
    if (agent == nullptr || agent->link_id != link_id) return;
    CORRAL_LOG(INFO) << "Agent " << agent->id << " disconnected; waiting for it to reregister";
    agent->link.reset();
    agent->link_id = 0;
    // Its offers are rescinded now: nothing can launch there until it is back.
    for (const std::string& offer_id : std::set<std::string>(agent->offers)) RescindOffer(offer_id, true, 0);
    allocator_.SetAgentActive(agent->id, false);
  });
}

void Master::AgentMessageReceived(uint64_t link_id, const v1::internal::AgentMessage& message) {
  loop_.Post([this, link_id, message] {
    if (stopped_) return;
    using M = v1::internal::AgentMessage;
    switch (message.message_case()) {
      case M::kRegisterAgent: OnRegister(link_id, message.register_agent()); return;
      case M::kReregisterAgent: OnReregister(link_id, message.reregister_agent()); return;
      default: break;
    }
    AgentEntry* agent = FindAgentByLink(link_id);
    if (agent == nullptr) {
      CORRAL_LOG(WARNING) << "Ignoring a message from an agent that has not registered";
      return;
    }
    switch (message.message_case()) {
      case M::kStatusUpdate: OnStatusUpdate(*agent, message.status_update()); break;
      case M::kExecutorMessage: OnExecutorMessage(*agent, message.executor_message()); break;
      case M::kExecutorExited: OnExecutorExited(*agent, message.executor_exited()); break;
      case M::kPong:
        agent->last_ping_acked = std::max(agent->last_ping_acked, message.pong().sequence());
        agent->missed_pings = 0;
        break;
      default: break;
    }
  });
}

void Master::OnRegister(uint64_t link_id, const v1::internal::RegisterAgent& msg) {
  auto link_it = pending_links_.find(link_id);
  if (link_it == pending_links_.end()) return;
  std::shared_ptr<AgentLink> link = link_it->second.link;
  std::optional<std::string> principal = link_it->second.principal;
  auto total = Resources::FromProto(msg.agent_info().resources());
  pending_links_.erase(link_it);
  if (auto st = auth::Authorize(options_.authorizer.get(), auth::Action::kRegisterAgents, principal, std::nullopt);
      !st.ok()) {
    return RefuseAgent(*link, std::string(st.message()));
  }
  if (!total.ok() || msg.agent_info().hostname().empty()) {
    return RefuseAgent(*link, !total.ok() ? absl::StrCat("invalid agent resources: ", total.status().message())
                                          : "agent_info.hostname is required");
  }
  if (MachineEntry* m = MachineOf(msg.agent_info().hostname()); m != nullptr && m->down) {
    return RefuseAgent(*link, absl::StrCat("machine '", msg.agent_info().hostname(), "' is down for maintenance"));
  }
  std::string id = NextId("S");
  v1::AgentInfo info = msg.agent_info();
  info.mutable_id()->set_value(id);
  std::string secret = auth::NewSecret();
  AgentIdentity identity{principal.value_or(""), auth::Sha256(secret)};
  // A commit point: the agent is admitted once the registry says so.
  if (absl::Status s = registry_->AdmitAgent(info, identity); !s.ok()) {
    CORRAL_LOG(ERROR) << "Cannot admit the agent at " << info.hostname() << ": " << s.message()
                      << "; it will try again";
    return RefuseAgent(*link, absl::StrCat("cannot admit the agent now: ", s.message()), /*retry=*/true);
  }
  AgentEntry& agent = agents_[id];
  agent.id = id;
  agent.info = info;
  agent.total = *total;
  agent.link = link;
  agent.link_id = link_id;
  agent.registered_time = clock_->NowSeconds();
  agent.last_ping_acked = ping_sequence_;
  agent.identity = identity;
  link_agents_[link_id] = id;
  CORRAL_LOG(INFO) << "Agent " << id << " at " << agent.info.hostname() << ":" << agent.info.port()
                   << " registered with " << total->ToString();
  MasterMessage m;
  m.mutable_registered()->mutable_agent_id()->set_value(id);
  m.mutable_registered()->set_agent_secret(secret);
  *m.mutable_registered()->mutable_master_info() = info_;
  m.mutable_registered()->set_total_ping_timeout_seconds(options_.agent_ping_timeout *
                                                         options_.max_agent_ping_timeouts);
  SendToAgent(agent, m);
  AdmitAgent(agent);
}

void Master::RefuseAgent(AgentLink& link, const std::string& why, bool retry) {
  MasterMessage m;
  m.mutable_refused()->set_message(why);
  if (retry) m.mutable_refused()->set_retry(true);
  link.Send(m);
  link.Close();
}

void Master::AdmitAgent(AgentEntry& agent) {
  allocator_.AddAgent(agent.id, agent.total);
  allocator_.SetAgentActive(agent.id, true);
  PublishAgentAdded(agent);
  ScheduleAllocation(agent.id);
}

void Master::OnReregister(uint64_t link_id, const v1::internal::ReregisterAgent& msg) {
  auto link_it = pending_links_.find(link_id);
  if (link_it == pending_links_.end()) return;
  std::shared_ptr<AgentLink> link = link_it->second.link;
  std::optional<std::string> principal = link_it->second.principal;
  pending_links_.erase(link_it);
  if (auto st = auth::Authorize(options_.authorizer.get(), auth::Action::kRegisterAgents, principal, std::nullopt);
      !st.ok()) {
    return RefuseAgent(*link, std::string(st.message()));
  }
  std::string id = msg.agent_info().id().value();
  auto reported_total = Resources::FromProto(msg.agent_info().resources());
  if (id.empty() || !reported_total.ok()) {
    return RefuseAgent(
        *link, id.empty() ? "reregistration without an agent ID" : std::string(reported_total.status().message()));
  }
  v1::AgentInfo info = WithKeptReservations(msg.agent_info());
  auto total = Resources::FromProto(info.resources());
  if (!total.ok()) {
    info = msg.agent_info();
    total = reported_total;
  }
  if (MachineEntry* down = MachineOf(info.hostname()); down != nullptr && down->down) {
    return RefuseAgent(*link, absl::StrCat("machine '", info.hostname(), "' is down for maintenance"));
  }
  // The ID is public (/master/slaves): only the agent it was given to may
  // come back with it.
  AgentIdentity identity;
  if (auto known_it = agents_.find(id); known_it != agents_.end()) identity = known_it->second.identity;
  if (!identity.secret_digest.empty() &&
      !auth::DigestEquals(identity.secret_digest, auth::Sha256(msg.agent_secret()))) {
    CORRAL_LOG(WARNING) << "Refused a reregistration as agent " << id << " from " << info.hostname()
                        << ": it did not prove the secret issued with that ID";
    return RefuseAgent(*link, absl::StrCat("agent ID '", id,
                                           "' was issued to another agent (the secret issued with it does not match);"
                                           " an agent that lost its work dir registers anew"));
  }
  if (principal && !identity.principal.empty() && *principal != identity.principal) {
    CORRAL_LOG(WARNING) << "Refused a reregistration as agent " << id << " by principal '" << *principal
                        << "': the ID belongs to principal '" << identity.principal << "'";
    return RefuseAgent(*link, absl::StrCat("agent ID '", id, "' belongs to principal '", identity.principal, "', not '",
                                           *principal, "'"));
  }
  std::string issued;  // a secret for an agent bound to none yet
  if (identity.secret_digest.empty()) {
    issued = auth::NewSecret();
    identity.secret_digest = auth::Sha256(issued);
  }
  if (principal && identity.principal.empty()) identity.principal = *principal;
  // A failure of the master's own must never cost the agent its work.
  if (absl::Status s = registry_->AdmitAgent(info, identity); !s.ok()) {
    CORRAL_LOG(ERROR) << "Cannot readmit agent " << id << ": " << s.message() << "; it will try again";
    return RefuseAgent(*link, absl::StrCat("cannot readmit the agent now: ", s.message()), /*retry=*/true);
  }
  auto it = agents_.find(id);
  bool known = it != agents_.end();
  AgentEntry& agent = agents_[id];
  agent.recovered = false;
  agent.unreachable_since = 0;
  if (agent.link && agent.link_id != link_id) {
    link_agents_.erase(agent.link_id);
    agent.link->Close();
  }
  bool was_unreachable = known && !agent.reachable;
  agent.id = id;
  agent.info = info;
  agent.link = link;
  agent.link_id = link_id;
  agent.missed_pings = 0;
  agent.last_ping_acked = ping_sequence_;
  agent.identity = identity;
  link_agents_[link_id] = id;
  MasterMessage m;
  m.mutable_registered()->mutable_agent_id()->set_value(id);
  if (!issued.empty()) m.mutable_registered()->set_agent_secret(issued);
  *m.mutable_registered()->mutable_master_info() = info_;
  m.mutable_registered()->set_total_ping_timeout_seconds(options_.agent_ping_timeout *
                                                         options_.max_agent_ping_timeouts);
  SendToAgent(agent, m);
  CORRAL_LOG(INFO) << "Agent " << id << " reregistered with " << msg.tasks_size() << " tasks";

  if (!known || was_unreachable) {
    agent.total = *total;
    agent.reachable = true;
    if (agent.registered_time == 0) agent.registered_time = clock_->NowSeconds();
    allocator_.AddAgent(id, agent.total);
    std::vector<TaskKey> learned;  // tasks new to this master, for TASK_ADDED
    // Adopt the tasks the agent reports.
    for (const v1::ExecutorInfo& ex : msg.executors()) {
      std::string fid = ex.framework_id().value();
      ExecutorEntry& ee = agent.executors[{fid, ex.executor_id().value()}];
      auto r = Resources::FromProto(ex.resources());
      ee.resources = r.ok() ? *r : Resources();
      ee.user = ex.command().user();  // empty: the framework's
    }
    for (const v1::Task& t : msg.tasks()) {
      std::string fid = t.framework_id().value();
      TaskKey key{fid, t.task_id().value()};
      auto r = Resources::FromProto(t.resources());
      TaskEntry& task = tasks_[key];
      bool existed = !task.task_id.empty();
      task.task_id = t.task_id().value();
      task.name = t.name();
      task.framework_id = fid;
      task.agent_id = id;
      task.executor_id = t.executor_id().value();
      task.user = t.user();  // empty: the framework's
      task.resources = r.ok() ? *r : Resources();
      task.state = t.state();
      task.resources_released = false;
      FrameworkEntry* fw = FindFramework(fid);
      task.role = fw && !fw->roles.empty() ? fw->roles[0] : "*";
      if (!t.resources().empty() && t.resources(0).has_allocation_info())
        task.role = t.resources(0).allocation_info().role();
      if (t.statuses_size() > 0) task.latest_status = t.statuses(t.statuses_size() - 1);
      TrimForKeeping(&task.latest_status);
      task.latest_status.mutable_task_id()->set_value(task.task_id);
      task.latest_status.set_state(t.state());
      task.latest_status.mutable_agent_id()->set_value(id);
      agent.tasks.insert(key);
      if (!existed && !operator_sinks_.empty()) learned.push_back(key);
      auto exk = std::make_pair(fid, task.executor_id);
      if (!task.executor_id.empty()) {
        agent.executors[exk].tasks.insert(task.task_id);
        agent.executors[exk].role = task.role;
      }
      if (!IsTerminalState(task.state)) allocator_.AddUsed(fid, task.role, id, task.resources);
      if (fw != nullptr) {
        fw->tasks.insert(task.task_id);
        if (was_unreachable && existed && fw->partition_aware && fw->connected) {
          SendMasterUpdate(*fw, &task, task.task_id, id, task.state, v1::TaskStatus::REASON_AGENT_REREGISTERED,
                           "agent reregistered");
        }
      }
    }
    for (auto& [k, ee] : agent.executors) {
      if (!ee.resources.Empty()) allocator_.AddUsed(k.first, ee.role.empty() ? "*" : ee.role, id, ee.resources);
    }
    PublishAgentAdded(agent);
    for (const TaskKey& key : learned) PublishTaskAdded(tasks_.at(key));
  }
  // Tasks the master placed on this agent that the agent does not report
  // never reached it (a launch lost with the connection): they are over.
  std::set<TaskKey> reported;
  for (const v1::Task& t : msg.tasks()) reported.insert({t.framework_id().value(), t.task_id().value()});
  for (const TaskKey& key : std::set<TaskKey>(agent.tasks)) {
    if (reported.count(key)) continue;
    auto t = tasks_.find(key);
    if (t == tasks_.end() || IsTerminalState(t->second.state)) continue;
    FrameworkEntry* fw = FindFramework(key.first);
    v1::TaskState st = LostState(fw && fw->partition_aware, v1::TASK_DROPPED);
    t->second.state = st;
    t->second.latest_status.set_state(st);
    if (fw != nullptr) {
      SendMasterUpdate(*fw, &t->second, key.second, id, st, v1::TaskStatus::REASON_AGENT_REREGISTERED,
                       "the agent reregistered without this task");
    }
    RemoveTask(key);
  }
  if (agent.drain) {
    // Still draining (or drained): no offers; the kills go again.
    allocator_.SetAgentActive(id, false);
    KillForDrain(agent);
    ContinueDrain(agent);
    return;
  }
  allocator_.SetAgentActive(id, true);
  ScheduleAllocation(id);
}

void Master::OnStatusUpdate(AgentEntry& agent, const v1::internal::StatusUpdate& msg) {
  const v1::TaskStatus& status = msg.status();
  std::string fid = msg.framework_id().value();
  TaskKey key{fid, status.task_id().value()};
  auto it = tasks_.find(key);
  FrameworkEntry* fw = FindFramework(fid);
  if (it != tasks_.end()) {
    TaskEntry& task = it->second;
    v1::TaskState latest = msg.has_latest_state() ? msg.latest_state() : status.state();
    task.state = latest;
    task.latest_status = status;
    TrimForKeeping(&task.latest_status);
    task.latest_status.set_state(latest);
    MarkStatus(task, status);
    PublishTaskUpdated(task);
    if (IsTerminalState(latest)) ReleaseTaskResources(task);
    if (IsTerminalState(status.state())) task.terminal_uuid = status.uuid();
    if (IsTerminalState(latest) && agent.drain) {
      // Later on the loop: a drained agent marked gone is removed, and this
      // update is not done with it yet.
      loop_.Post([this, id = agent.id] {
        auto a = agents_.find(id);
        if (a != agents_.end()) ContinueDrain(a->second);
      });
    }
  }
  if (fw == nullptr) {
    // Framework is gone: acknowledge on its behalf so the agent can move on.
    MasterMessage m;
    auto* a = m.mutable_acknowledgement();
    a->mutable_framework_id()->set_value(fid);
    *a->mutable_task_id() = status.task_id();
    a->set_uuid(status.uuid());
    SendToAgent(agent, m);
    if (it != tasks_.end() && IsTerminalState(status.state())) RemoveTask(key);
    return;
  }
  Event ev;
  ev.set_type(Event::UPDATE);
  *ev.mutable_update()->mutable_status() = status;
  ev.mutable_update()->mutable_status()->mutable_agent_id()->set_value(agent.id);
  SendToFramework(*fw, ev);
}

void Master::OnExecutorMessage(AgentEntry& agent, const v1::internal::ExecutorToFramework& msg) {
  FrameworkEntry* fw = FindFramework(msg.framework_id().value());
  if (fw == nullptr) return;
  Event ev;
  ev.set_type(Event::MESSAGE);
  ev.mutable_message()->mutable_agent_id()->set_value(agent.id);
  *ev.mutable_message()->mutable_executor_id() = msg.executor_id();
  ev.mutable_message()->set_data(msg.data());
  SendToFramework(*fw, ev);
}

void Master::OnExecutorExited(AgentEntry& agent, const v1::internal::ExecutorExited& msg) {
  std::string fid = msg.framework_id().value();
  auto it = agent.executors.find({fid, msg.executor_id().value()});
  if (it != agent.executors.end()) {
    allocator_.Recover(fid, it->second.role.empty() ? "*" : it->second.role, agent.id, it->second.resources, 0,
                       clock_->SteadySeconds());
    agent.executors.erase(it);  // offered at the next allocation cycle
  }
  FrameworkEntry* fw = FindFramework(fid);
  if (fw == nullptr) return;
  Event ev;
  ev.set_type(Event::FAILURE);
  ev.mutable_failure()->mutable_agent_id()->set_value(agent.id);
  *ev.mutable_failure()->mutable_executor_id() = msg.executor_id();
  ev.mutable_failure()->set_status(msg.status());
  SendToFramework(*fw, ev);
}

void Master::ForgetOldUnreachableAgents() {
  double now = clock_->NowSeconds();
  std::vector<std::string> old;
  for (const auto& [id, agent] : agents_) {
    if (!agent.reachable && !agent.recovered && agent.unreachable_since > 0 &&
        now - agent.unreachable_since > options_.registry_max_agent_age) {
      old.push_back(id);
    }
  }
  for (const std::string& id : old) {
    CORRAL_LOG(INFO) << "Forgetting agent " << id << ": unreachable for longer than --registry_max_agent_age";
    if (absl::Status s = registry_->RemoveAgent(id); !s.ok()) {
      CORRAL_LOG(ERROR) << "Cannot remove agent " << id << " from the registry: " << s.message();
      continue;
    }
    AgentEntry& agent = agents_[id];
    for (const TaskKey& key : std::set<TaskKey>(agent.tasks)) RemoveTask(key);
    agents_.erase(id);
    PublishAgentRemoved(id);
  }
}

void Master::PingAgents() {
  if (stopped_) return;
  ForgetOldUnreachableAgents();
  ++ping_sequence_;
  for (auto& [id, agent] : agents_) {
    if (!agent.reachable) continue;
    if (agent.last_ping_acked + 1 < ping_sequence_) {
      // The previous ping went unanswered.
      if (++agent.missed_pings >= options_.max_agent_ping_timeouts) {
        MarkUnreachable(agent);
        continue;
      }
    }
    if (agent.link) {
      MasterMessage m;
      m.mutable_ping()->set_sequence(ping_sequence_);
      agent.link->Send(m);
    }
  }
  loop_.PostAfter(Seconds(options_.agent_ping_timeout), [this] { PingAgents(); });
}

void Master::MarkUnreachable(AgentEntry& agent) {
  CORRAL_LOG(WARNING) << "Agent " << agent.id << " missed " << agent.missed_pings << " pings; marking it unreachable";
  agent.reachable = false;
  for (const std::string& offer_id : std::set<std::string>(agent.offers)) RescindOffer(offer_id, false, 0);
  RescindInverseOffers(agent.id);
  allocator_.RemoveAgent(agent.id);
  double now = clock_->NowSeconds();
  agent.unreachable_since = now;
  if (absl::Status s = registry_->MarkAgentUnreachable(agent.id, now); !s.ok()) {
    CORRAL_LOG(ERROR) << "Cannot record agent " << agent.id << " as unreachable: " << s.message();
  }
  for (const TaskKey& key : agent.tasks) {
    auto it = tasks_.find(key);
    if (it == tasks_.end()) continue;
    TaskEntry& task = it->second;
    if (IsTerminalState(task.state)) continue;
    FrameworkEntry* fw = FindFramework(key.first);
    v1::TaskState st = LostState(fw && fw->partition_aware, v1::TASK_UNREACHABLE);
    task.state = st;
    task.latest_status.set_state(st);
    task.latest_status.set_reason(v1::TaskStatus::REASON_AGENT_REMOVED);
    task.latest_status.set_source(v1::TaskStatus::SOURCE_MASTER);
    task.latest_status.mutable_unreachable_time()->set_nanoseconds(static_cast<int64_t>(now * 1e9));
    task.resources_released = true;  // the agent left the allocator
    if (fw != nullptr) {
      SendMasterUpdate(*fw, &task, task.task_id, agent.id, st, v1::TaskStatus::REASON_AGENT_REMOVED,
                       "agent is unreachable: it stopped answering pings");
    }
  }
  if (agent.link) {
    link_agents_.erase(agent.link_id);
    agent.link->Close();
    agent.link.reset();
    agent.link_id = 0;
  }
  // "Agent lost", as Mesos tells schedulers: FAILURE with no executor.
  Event lost;
  lost.set_type(Event::FAILURE);
  lost.mutable_failure()->mutable_agent_id()->set_value(agent.id);
  for (auto& [fid, fw] : frameworks_) SendToFramework(fw, lost);
}

// --- offers and allocation ------------------------------------------------------

void Master::ScheduleAllocation(const std::string& agent_id) {
  if (agent_id.empty())
    allocate_all_ = true;
  else
    dirty_agents_.insert(agent_id);
  if (allocation_pending_) return;
  allocation_pending_ = true;
  loop_.Post([this] { RunAllocation(); });
}

void Master::PeriodicAllocation() {
  if (stopped_) return;
  allocate_all_ = true;
  RunAllocation();
  loop_.PostAfter(Seconds(options_.allocation_interval), [this] { PeriodicAllocation(); });
}

void Master::RunAllocation() {
  allocation_pending_ = false;
  if (stopped_) return;
  double now = clock_->SteadySeconds();
  ++allocation_runs_;
  struct Timed {
    double start;
    double* out;
    ~Timed() { *out = (RealSteadySeconds() - start) * 1000; }
  } timed{RealSteadySeconds(), &last_allocation_ms_};
  std::vector<Allocation> allocations;
  if (allocate_all_) {
    allocations = allocator_.Allocate(now);
  } else if (!dirty_agents_.empty()) {
    allocations = allocator_.Allocate(now, std::vector<std::string>(dirty_agents_.begin(), dirty_agents_.end()));
  }
  allocate_all_ = false;
  dirty_agents_.clear();
  if (allocations.empty()) return;

  std::map<std::string, Event> events;  // one OFFERS event per framework
  for (Allocation& a : allocations) {
    FrameworkEntry* fw = FindFramework(a.framework_id);
    auto agent_it = agents_.find(a.agent_id);
    if (fw == nullptr || !fw->connected || agent_it == agents_.end()) {
      allocator_.Recover(a.framework_id, a.role, a.agent_id, a.resources, 0, now);
      continue;
    }
    AgentEntry& agent = agent_it->second;
    OfferEntry offer;
    offer.id = NextId("O");
    offer.framework_id = a.framework_id;
    offer.agent_id = a.agent_id;
    offer.role = a.role;
    offer.resources = std::move(a.resources);
    Event& ev = events[a.framework_id];
    ev.set_type(Event::OFFERS);
    v1::Offer* o = ev.mutable_offers()->add_offers();
    o->mutable_id()->set_value(offer.id);
    o->mutable_framework_id()->set_value(a.framework_id);
    o->mutable_agent_id()->set_value(a.agent_id);
    o->set_hostname(agent.info.hostname());
    *o->mutable_attributes() = agent.info.attributes();
    if (MultiRole(fw->info)) {
      o->mutable_allocation_info()->set_role(a.role);
      offer.resources.ToProto(o->mutable_resources(), a.role);
    } else {
      offer.resources.ToProto(o->mutable_resources());
    }
    for (const auto& [k, ee] : agent.executors) {
      if (k.first == a.framework_id) o->add_executor_ids()->set_value(k.second);
    }
    if (const MachineEntry* m = MachineOf(agent.info.hostname())) *o->mutable_unavailability() = m->unavailability;
    if (options_.offer_timeout > 0) {
      std::string oid = offer.id;
      offer.timer = loop_.PostAfter(Seconds(options_.offer_timeout), [this, oid] {
        if (offers_.count(oid)) RescindOffer(oid, true, 0);
      });
    }
    fw->offers.insert(offer.id);
    agent.offers.insert(offer.id);
    offers_[offer.id] = std::move(offer);
  }
  for (auto& [fid, ev] : events) SendToFramework(frameworks_[fid], ev);
  SendInverseOffers();
}

void Master::RemoveOffer(const std::string& offer_id) {
  auto it = offers_.find(offer_id);
  if (it == offers_.end()) return;
  if (it->second.timer) loop_.Cancel(it->second.timer);
  if (FrameworkEntry* fw = FindFramework(it->second.framework_id)) fw->offers.erase(offer_id);
  auto agent = agents_.find(it->second.agent_id);
  if (agent != agents_.end()) agent->second.offers.erase(offer_id);
  offers_.erase(it);
}

void Master::RescindOffer(const std::string& offer_id, bool recover, double refuse_seconds) {
  auto it = offers_.find(offer_id);
  if (it == offers_.end()) return;
  OfferEntry offer = it->second;
  RemoveOffer(offer_id);
  if (recover) {
    allocator_.Recover(offer.framework_id, offer.role, offer.agent_id, offer.resources, refuse_seconds,
                       clock_->SteadySeconds());
    if (refuse_seconds <= 0) ScheduleAllocation(offer.agent_id);
  }
  FrameworkEntry* fw = FindFramework(offer.framework_id);
  // A declined offer needs no RESCIND; any other removal does.
  if (fw != nullptr && fw->connected && refuse_seconds == 0) {
    Event ev;
    ev.set_type(Event::RESCIND);
    ev.mutable_rescind()->mutable_offer_id()->set_value(offer_id);
    SendToFramework(*fw, ev);
  }
}

void Master::SendHeartbeats() {
  if (stopped_) return;
  Event ev;
  ev.set_type(Event::HEARTBEAT);
  for (auto& [id, fw] : frameworks_)
    if (fw.connected) SendToFramework(fw, ev);
  v1::master::Event heartbeat;
  heartbeat.set_type(v1::master::Event::HEARTBEAT);
  Publish(heartbeat);
  loop_.PostAfter(Seconds(options_.heartbeat_interval), [this] { SendHeartbeats(); });
}

// --- tasks ------------------------------------------------------------------------

void Master::ReleaseTaskResources(TaskEntry& task) {
  if (task.resources_released) return;
  task.resources_released = true;
  allocator_.Recover(task.framework_id, task.role, task.agent_id, task.resources, 0, clock_->SteadySeconds());
  auto agent = agents_.find(task.agent_id);
  if (agent != agents_.end() && !task.executor_id.empty()) {
    auto ex = agent->second.executors.find({task.framework_id, task.executor_id});
    if (ex != agent->second.executors.end()) ex->second.tasks.erase(task.task_id);
  }
  // Offered at the next allocation cycle, with whatever else frees up on
  // the agent until then: one offer, not one per finished task (Mesos).
}

void Master::RemoveTask(const TaskKey& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  TaskEntry& task = it->second;
  ReleaseTaskResources(task);
  if (IsTerminalState(task.state)) ++terminal_tasks_[task.state];
  v1::Task done;
  done.set_name(task.name);
  done.mutable_task_id()->set_value(task.task_id);
  done.mutable_framework_id()->set_value(task.framework_id);
  done.mutable_agent_id()->set_value(task.agent_id);
  if (!task.executor_id.empty()) done.mutable_executor_id()->set_value(task.executor_id);
  done.set_state(task.state);
  if (!task.user.empty()) done.set_user(task.user);
  task.resources.ToProto(done.mutable_resources(), task.role);
  FillStatuses(task, &done);
  if (completed_tasks_.size() < kMaxCompletedTasks) {
    completed_tasks_.push_back(std::move(done));
  } else {
    completed_tasks_[completed_next_] = std::move(done);
    completed_next_ = (completed_next_ + 1) % kMaxCompletedTasks;
  }
  if (FrameworkEntry* fw = FindFramework(key.first)) fw->tasks.erase(key.second);
  auto agent = agents_.find(task.agent_id);
  if (agent != agents_.end()) agent->second.tasks.erase(key);
  tasks_.erase(it);
}

void Master::SendMasterUpdate(FrameworkEntry& fw, const TaskEntry* task, const std::string& task_id,
                              const std::string& agent_id, v1::TaskState state, v1::TaskStatus::Reason reason,
                              const std::string& message) {
  Event ev;
  ev.set_type(Event::UPDATE);
  v1::TaskStatus* st = ev.mutable_update()->mutable_status();
  if (task != nullptr) *st = task->latest_status;
  st->clear_uuid();  // master-generated updates need no acknowledgement
  st->mutable_task_id()->set_value(task_id);
  st->set_state(state);
  st->set_source(v1::TaskStatus::SOURCE_MASTER);
  st->set_reason(reason);
  st->set_message(message);
  if (!agent_id.empty()) st->mutable_agent_id()->set_value(agent_id);
  st->set_timestamp(clock_->NowSeconds());
  SendToFramework(fw, ev);
}

void Master::SendToFramework(FrameworkEntry& fw, const Event& event) {
  if (!fw.connected || !fw.sink) return;
  fw.sink->Send(event);
}

void Master::SendToAgent(AgentEntry& agent, const MasterMessage& msg) {
  if (agent.link) agent.link->Send(msg);
}

// --- state ----------------------------------------------------------------------------

v1::internal::ClusterState Master::GetState(const StateViewer& viewer) {
  return loop_.Call([&] {
    v1::internal::ClusterState state;
    auth::ViewFilter filter = ViewFilterFor(viewer);
    FillState(&state, filter);
    return state;
  });
}

v1::internal::ClusterState* Master::GetState(google::protobuf::Arena* arena, const StateViewer& viewer) {
  return loop_.Call([&] {
    auto* state = google::protobuf::Arena::CreateMessage<v1::internal::ClusterState>(arena);
    auth::ViewFilter filter = ViewFilterFor(viewer);
    FillState(state, filter);
    return state;
  });
}

absl::StatusOr<std::string> Master::FrameworkPrincipal(const std::string& framework_id) {
  return loop_.Call([&]() -> absl::StatusOr<std::string> {
    FrameworkEntry* fw = FindFramework(framework_id);
    if (fw == nullptr) return absl::NotFoundError(absl::StrCat("framework '", framework_id, "' is unknown"));
    return fw->info.principal();
  });
}

auth::ViewFilter Master::ViewFilterFor(const StateViewer& viewer) const {
  return auth::ViewFilter(viewer.everything ? nullptr : options_.authorizer.get(), viewer.principal);
}

bool Master::Visible(auth::ViewFilter& filter, const FrameworkEntry& fw) {
  return !filter.filters() || filter.Allows(auth::Action::kViewFrameworks, fw.info.user());
}

bool Master::Visible(auth::ViewFilter& filter, const TaskEntry& task) {
  if (!filter.filters()) return true;
  // A task shows only under a framework its viewer may see.
  FrameworkEntry* fw = FindFramework(task.framework_id);
  if (fw != nullptr && !Visible(filter, *fw)) return false;
  const std::string& user = !task.user.empty() || fw == nullptr ? task.user : fw->info.user();
  return filter.Allows(auth::Action::kViewTasks, user);
}

void Master::FillAgentState(const AgentEntry& agent, v1::internal::AgentState* a, bool whole_info,
                            auth::ViewFilter* filter) {
  if (whole_info) {
    *a->mutable_agent_info() = agent.info;
  } else {
    // What /master/state shows of it: its resources are `total` below.
    v1::AgentInfo* info = a->mutable_agent_info();
    *info->mutable_id() = agent.info.id();
    info->set_hostname(agent.info.hostname());
    info->set_port(agent.info.port());
    *info->mutable_attributes() = agent.info.attributes();
  }
  agent.total.ToProto(a->mutable_total());
  a->set_active(agent.reachable && agent.link != nullptr);
  a->set_registered_time(agent.registered_time);
  a->set_reachable(agent.reachable);
  a->set_recovered(agent.recovered);
  Resources offered;
  for (const std::string& oid : agent.offers) offered += offers_.at(oid).resources;
  offered.ToProto(a->mutable_offered());
  // In use by tasks and executors: the allocator counts offers as allocated.
  (allocator_.AgentAllocated(agent.id) - offered).ToProto(a->mutable_allocated());
  for (const auto& [key, ex] : agent.executors) {
    if (filter != nullptr && filter->filters()) {
      const std::string* user = &ex.user;
      if (user->empty()) {
        auto fw = frameworks_.find(key.first);
        if (fw != frameworks_.end()) user = &fw->second.info.user();
      }
      if (!filter->Allows(auth::Action::kViewExecutors, *user)) continue;
    }
    auto* e = a->add_executors();
    e->mutable_executor_id()->set_value(key.second);
    e->mutable_framework_id()->set_value(key.first);
    ex.resources.ToProto(e->mutable_resources(), ex.role);
  }
  if (agent.drain) *a->mutable_drain_info() = *agent.drain;
}

void Master::FillFrameworkState(const FrameworkEntry& fw, v1::internal::FrameworkState* f,
                                const Resources* used_by_tasks) {
  const std::string& id = fw.id;
  *f->mutable_framework_info() = fw.info;
  f->set_active(true);
  f->set_connected(fw.connected);
  Resources used, offered;
  if (used_by_tasks != nullptr) {
    used = *used_by_tasks;
  } else {
    // fw.tasks and this framework's run of tasks_ are both sorted by task
    // ID: walk them side by side rather than look each task up.
    auto it = tasks_.lower_bound({id, std::string()});
    for (const std::string& tid : fw.tasks) {
      while (it != tasks_.end() && it->first.first == id && it->first.second < tid) ++it;
      if (it == tasks_.end() || it->first.first != id) break;
      if (it->first.second == tid && !it->second.resources_released) used += it->second.resources;
    }
  }
  for (const std::string& oid : fw.offers) offered += offers_.at(oid).resources;
  used.ToProto(f->mutable_allocated());
  offered.ToProto(f->mutable_offered());
  f->set_registered_time(fw.registered_time);
  if (fw.offer_constraints.role_constraints_size() > 0) *f->mutable_offer_constraints() = fw.offer_constraints;
  for (const std::string& oid : fw.offers) {
    const OfferEntry& o = offers_.at(oid);
    v1::Offer* offer = f->add_offers();
    offer->mutable_id()->set_value(oid);
    offer->mutable_framework_id()->set_value(id);
    offer->mutable_agent_id()->set_value(o.agent_id);
    auto agent = agents_.find(o.agent_id);
    if (agent != agents_.end()) offer->set_hostname(agent->second.info.hostname());
    if (MultiRole(fw.info)) {
      o.resources.ToProto(offer->mutable_resources(), o.role);
      offer->mutable_allocation_info()->set_role(o.role);
    } else {
      o.resources.ToProto(offer->mutable_resources());
    }
  }
}

void Master::MarkStatus(TaskEntry& task, const v1::TaskStatus& status) {
  if (status.has_uuid() && status.uuid() == task.history_uuid) return;
  task.history_uuid = status.uuid();
  if (task.history.size() >= TaskEntry::kStatusHistory) task.history.erase(task.history.begin() + 1);
  TaskEntry::StatusMark mark;
  mark.timestamp = status.timestamp();
  mark.state = status.state();
  mark.healthy = status.has_healthy() ? (status.healthy() ? 1 : 0) : -1;
  task.history.push_back(mark);
}

void Master::FillStatuses(const TaskEntry& task, v1::Task* t) {
  // Every mark but the last, then the latest status in full.
  for (size_t i = 0; i + 1 < task.history.size(); ++i) {
    const TaskEntry::StatusMark& mark = task.history[i];
    v1::TaskStatus* s = t->add_statuses();
    s->mutable_task_id()->set_value(task.task_id);
    s->set_state(mark.state);
    s->set_timestamp(mark.timestamp);
    if (mark.healthy >= 0) s->set_healthy(mark.healthy == 1);
  }
  *t->add_statuses() = task.latest_status;
}

void Master::FillTask(const TaskEntry& task, v1::Task* t) {
  t->set_name(task.name);
  t->mutable_task_id()->set_value(task.task_id);
  t->mutable_framework_id()->set_value(task.framework_id);
  t->mutable_agent_id()->set_value(task.agent_id);
  if (!task.executor_id.empty()) t->mutable_executor_id()->set_value(task.executor_id);
  t->set_state(task.state);
  if (!task.user.empty()) t->set_user(task.user);
  task.resources.ToProto(t->mutable_resources(), task.role);
  FillStatuses(task, t);
  auto agent = agents_.find(task.agent_id);
  if (agent == agents_.end() || !agent->second.reachable) t->set_status_update_state(v1::TASK_UNREACHABLE);
}

void Master::FillState(v1::internal::ClusterState* state, auth::ViewFilter& filter) {
  *state->mutable_master_info() = info_;
  state->mutable_agents()->Reserve(static_cast<int>(agents_.size()));
  state->mutable_tasks()->Reserve(static_cast<int>(tasks_.size()));
  for (const auto& [id, agent] : agents_) FillAgentState(agent, state->add_agents(), true, &filter);
  for (const auto& [id, fw] : frameworks_) {
    if (Visible(filter, fw)) FillFrameworkState(fw, state->add_frameworks());
  }
  for (const auto& [key, task] : tasks_) {
    if (Visible(filter, task)) FillTask(task, state->add_tasks());
  }
  for (const v1::Task& t : completed_tasks_) {
    if (CompletedTaskVisible(filter, t)) *state->add_completed_tasks() = t;
  }
}

bool Master::CompletedTaskVisible(auth::ViewFilter& filter, const v1::Task& task) {
  if (!filter.filters()) return true;
  FrameworkEntry* fw = FindFramework(task.framework_id().value());
  if (fw != nullptr && !Visible(filter, *fw)) return false;
  const std::string& user = task.has_user() || fw == nullptr ? task.user() : fw->info.user();
  return filter.Allows(auth::Action::kViewTasks, user);
}

Master::TaskRenderKey Master::TaskRenderKey::Of(const v1::Task& task) {
  TaskRenderKey key;
  key.state = task.state();
  if (task.statuses_size() > 0) {
    const v1::TaskStatus& s = task.statuses(task.statuses_size() - 1);
    key.status_state = s.state();
    key.status_timestamp = s.timestamp();
    key.status_healthy = s.has_healthy() ? s.healthy() : -1;
  }
  key.statuses = task.statuses_size();
  return key;
}

Master::TaskRenderKey Master::RenderKeyOf(const TaskEntry& task) {
  // What TaskRenderKey::Of reads from the v1::Task FillTask makes of `task`.
  TaskRenderKey key;
  key.state = task.state;
  key.status_state = task.latest_status.state();
  key.status_timestamp = task.latest_status.timestamp();
  key.status_healthy = task.latest_status.has_healthy() ? task.latest_status.healthy() : -1;
  key.statuses = static_cast<int>(std::max<size_t>(task.history.size(), 1));
  return key;
}

Master::RenderableState Master::GetRenderableState(google::protobuf::Arena* arena, const StateViewer& viewer) {
  return loop_.Call([&] {
    RenderableState out;
    auth::ViewFilter filter = ViewFilterFor(viewer);
    // The agent copier's own: a filter's memo is not shared between threads.
    auth::ViewFilter agent_filter = filter;
    v1::internal::ClusterState* state = google::protobuf::Arena::CreateMessage<v1::internal::ClusterState>(arena);
    out.state = state;
    *state->mutable_master_info() = info_;
    absl::flat_hash_set<absl::string_view> reachable;
    reachable.reserve(agents_.size());
    for (const auto& [id, agent] : agents_) {
      if (agent.reachable) reachable.insert(id);
    }
    // The agents are copied on a helper thread while this one walks the
    // tasks. The loop is held here until both are done, so nothing changes
    // under either; both only read, and an arena takes allocations from
    // several threads.
    std::thread agents_copier([this, state, &agent_filter] {
      state->mutable_agents()->Reserve(static_cast<int>(agents_.size()));
      for (const auto& [id, agent] : agents_) FillAgentState(agent, state->add_agents(), false, &agent_filter);
    });
    for (const v1::Task& t : completed_tasks_) {
      if (CompletedTaskVisible(filter, t)) *state->add_completed_tasks() = t;
    }
    // Which frameworks show, and each one's index among those shown.
    std::vector<int> shown(frameworks_.size(), -1);
    {
      int i = 0, next = 0;
      for (const auto& [id, f] : frameworks_) {
        if (Visible(filter, f)) shown[i] = next++;
        ++i;
      }
    }
    // One walk over the tasks, which are ordered by framework ID as
    // frameworks_ is, also sums what each framework's tasks use.
    out.tasks.reserve(tasks_.size());
    std::vector<Resources> used(frameworks_.size());
    auto fw = frameworks_.begin();
    int fw_index = 0;
    for (const auto& [key, task] : tasks_) {
      while (fw != frameworks_.end() && fw->first < key.first) ++fw, ++fw_index;
      bool listed = fw != frameworks_.end() && fw->first == key.first;
      // A framework's figures count every task of it, shown or not.
      if (listed && !task.resources_released) used[fw_index] += task.resources;
      if (filter.filters()) {
        if (listed && shown[fw_index] < 0) continue;
        const std::string& user = !task.user.empty() || !listed ? task.user : fw->second.info.user();
        if (!filter.Allows(auth::Action::kViewTasks, user)) continue;
      }
      TaskView& view = out.tasks.emplace_back();
      view.framework = listed ? shown[fw_index] : -1;
      view.unreachable = !reachable.contains(task.agent_id);
      if (task.rendering != nullptr && task.rendered_from == RenderKeyOf(task)) {
        view.rendering = task.rendering;
      } else {
        view.task = state->tasks_size();
        FillTask(task, state->add_tasks());
      }
    }
    fw_index = 0;
    for (const auto& [id, f] : frameworks_) {
      if (shown[fw_index] >= 0) FillFrameworkState(f, state->add_frameworks(), &used[fw_index]);
      ++fw_index;
    }
    agents_copier.join();
    return out;
  });
}

void Master::KeepTaskRenderings(std::vector<TaskRendering> renderings) {
  if (renderings.empty()) return;
  loop_.Post([this, renderings = std::move(renderings)]() mutable {
    for (TaskRendering& r : renderings) {
      auto it = tasks_.find({r.framework_id, r.task_id});
      if (it == tasks_.end() || !(RenderKeyOf(it->second) == r.key)) continue;
      it->second.rendering = std::move(r.rendering);
      it->second.rendered_from = r.key;
    }
  });
}

// --- operator event stream ------------------------------------------------------

absl::Status Master::SubscribeOperator(std::shared_ptr<OperatorSink> sink, const StateViewer& viewer) {
  return loop_.Call([&]() -> absl::Status {
    if (stopped_) return absl::UnavailableError("master is stopping");
    v1::internal::ClusterState state;
    auth::ViewFilter filter = ViewFilterFor(viewer);
    FillState(&state, filter);
    v1::master::Event ev;
    ev.set_type(v1::master::Event::SUBSCRIBED);
    operator_api::FillState(state, ev.mutable_subscribed()->mutable_get_state());
    ev.mutable_subscribed()->set_heartbeat_interval_seconds(options_.heartbeat_interval);
    if (!sink->Send(ev)) return absl::UnavailableError("the subscriber went away");
    operator_sinks_.push_back({std::move(sink), viewer});
    return absl::OkStatus();
  });
}

void Master::OperatorGone(OperatorSink* sink) {
  loop_.Post([this, sink] {
    operator_sinks_.erase(std::remove_if(operator_sinks_.begin(), operator_sinks_.end(),
                                         [&](const OperatorSubscriber& s) { return s.sink.get() == sink; }),
                          operator_sinks_.end());
  });
}

void Master::Publish(const v1::master::Event& event, const std::function<bool(auth::ViewFilter&)>& visible) {
  if (operator_sinks_.empty()) return;
  operator_sinks_.erase(std::remove_if(operator_sinks_.begin(), operator_sinks_.end(),
                                       [&](const OperatorSubscriber& s) {
                                         if (visible) {
                                           auth::ViewFilter filter = ViewFilterFor(s.viewer);
                                           if (filter.filters() && !visible(filter)) return false;
                                         }
                                         return !s.sink->Send(event);
                                       }),
                        operator_sinks_.end());
}

void Master::PublishTaskAdded(const TaskEntry& task) {
  if (operator_sinks_.empty()) return;
  v1::master::Event ev;
  ev.set_type(v1::master::Event::TASK_ADDED);
  FillTask(task, ev.mutable_task_added()->mutable_task());
  ev.mutable_task_added()->mutable_task()->clear_status_update_state();
  Publish(ev, [&](auth::ViewFilter& filter) { return Visible(filter, task); });
}

void Master::PublishTaskUpdated(const TaskEntry& task) {
  if (operator_sinks_.empty()) return;
  v1::master::Event ev;
  ev.set_type(v1::master::Event::TASK_UPDATED);
  auto* u = ev.mutable_task_updated();
  u->mutable_framework_id()->set_value(task.framework_id);
  *u->mutable_status() = task.latest_status;
  u->set_state(task.state);
  Publish(ev, [&](auth::ViewFilter& filter) { return Visible(filter, task); });
}

void Master::PublishAgentAdded(const AgentEntry& agent) {
  if (operator_sinks_.empty()) return;
  v1::internal::AgentState state;
  FillAgentState(agent, &state);
  v1::master::Event ev;
  ev.set_type(v1::master::Event::AGENT_ADDED);
  *ev.mutable_agent_added()->mutable_agent() = operator_api::AgentOf(state);
  Publish(ev);
}

void Master::PublishAgentRemoved(const std::string& agent_id) {
  if (operator_sinks_.empty()) return;
  v1::master::Event ev;
  ev.set_type(v1::master::Event::AGENT_REMOVED);
  ev.mutable_agent_removed()->mutable_agent_id()->set_value(agent_id);
  Publish(ev);
}

void Master::PublishFramework(const FrameworkEntry& fw, v1::master::Event::Type type) {
  if (operator_sinks_.empty()) return;
  v1::master::Event ev;
  ev.set_type(type);
  if (type == v1::master::Event::FRAMEWORK_REMOVED) {
    *ev.mutable_framework_removed()->mutable_framework_info() = fw.info;
  } else {
    v1::internal::FrameworkState state;
    FillFrameworkState(fw, &state);
    auto* out = type == v1::master::Event::FRAMEWORK_ADDED ? ev.mutable_framework_added()->mutable_framework()
                                                           : ev.mutable_framework_updated()->mutable_framework();
    *out = operator_api::FrameworkOf(state);
  }
  Publish(ev, [&](auth::ViewFilter& filter) { return Visible(filter, fw); });
}

std::map<std::string, double> Master::Metrics() {
  return loop_.Call([&] {
    std::map<std::string, double> m;
    m["master/uptime_secs"] = clock_->NowSeconds() - start_time_;
    m["master/elected"] = 1;
    double active = 0, connected = 0, unreachable = 0, draining = 0;
    Quantities total, used, offered;
    for (const auto& [id, agent] : agents_) {
      if (!agent.reachable) ++unreachable;
      if (agent.link != nullptr) ++connected;
      if (agent.reachable && agent.link != nullptr && !agent.drain) ++active;
      if (agent.drain) ++draining;
      if (!agent.reachable) continue;
      total += Quantities::Of(agent.total);
      Resources agent_offered;
      for (const std::string& oid : agent.offers) agent_offered += offers_.at(oid).resources;
      used += Quantities::Of(allocator_.AgentAllocated(id) - agent_offered);
    }
    for (const auto& [id, offer] : offers_) offered += Quantities::Of(offer.resources);
    m["master/slaves_active"] = active;
    m["master/slaves_inactive"] = draining;
    m["master/slaves_connected"] = connected;
    m["master/slaves_disconnected"] = static_cast<double>(agents_.size()) - connected;
    m["master/slaves_unreachable"] = unreachable;
    double fw_connected = 0;
    for (const auto& [id, fw] : frameworks_) fw_connected += fw.connected ? 1 : 0;
    m["master/frameworks_active"] = static_cast<double>(frameworks_.size());
    m["master/frameworks_inactive"] = 0;
    m["master/frameworks_connected"] = fw_connected;
    m["master/frameworks_disconnected"] = static_cast<double>(frameworks_.size()) - fw_connected;
    m["master/outstanding_offers"] = static_cast<double>(offers_.size());
    for (const char* name : {"cpus", "mem", "disk", "gpus"}) {
      double t = FromMilli(total.Get(name)), u = FromMilli(used.Get(name)), o = FromMilli(offered.Get(name));
      m[absl::StrCat("master/", name, "_total")] = t;
      m[absl::StrCat("master/", name, "_used")] = u;
      m[absl::StrCat("master/", name, "_percent")] = t > 0 ? u / t : 0;
      m[absl::StrCat("allocator/mesos/resources/", name, "/total")] = t;
      m[absl::StrCat("allocator/mesos/resources/", name, "/offered_or_allocated")] = u;
      m[absl::StrCat("master/", name, "_offered")] = o;
    }
    std::map<v1::TaskState, double> current;
    for (const auto& [key, task] : tasks_) ++current[task.state];
    for (auto state : {v1::TASK_STAGING, v1::TASK_STARTING, v1::TASK_RUNNING, v1::TASK_KILLING, v1::TASK_UNREACHABLE}) {
      m["master/tasks_" + absl::AsciiStrToLower(v1::TaskState_Name(state).substr(5))] = current[state];
    }
    for (auto state : {v1::TASK_FINISHED, v1::TASK_FAILED, v1::TASK_KILLED, v1::TASK_LOST, v1::TASK_ERROR,
                       v1::TASK_DROPPED, v1::TASK_GONE, v1::TASK_GONE_BY_OPERATOR}) {
      auto it = terminal_tasks_.find(state);
      m["master/tasks_" + absl::AsciiStrToLower(v1::TaskState_Name(state).substr(5))] =
          static_cast<double>(it == terminal_tasks_.end() ? 0 : it->second);
    }
    m["allocator/mesos/allocation_runs"] = static_cast<double>(allocation_runs_);
    m["allocator/mesos/allocation_run_ms"] = last_allocation_ms_;
    m["master/event_queue_dispatches"] = 0;
    return m;
  });
}

absl::Status Master::TeardownFramework(const std::string& framework_id) {
  return loop_.Call([&]() -> absl::Status {
    if (FindFramework(framework_id) == nullptr) {
      return absl::NotFoundError(absl::StrCat("framework '", framework_id, "' is not known"));
    }
    RemoveFramework(framework_id, "torn down by an operator");
    return absl::OkStatus();
  });
}

absl::Status Master::MarkAgentGone(const std::string& agent_id) {
  return loop_.Call([&]() -> absl::Status {
    if (agents_.find(agent_id) == agents_.end()) {
      return absl::NotFoundError(absl::StrCat("agent '", agent_id, "' is not known"));
    }
    RemoveAgentForMaintenance(agent_id, "marked gone by an operator");
    return absl::OkStatus();
  });
}

}  // namespace corral
