// The master's core logic, independent of any transport.
//
// Threading: every piece of state is owned by the master's EventLoop. The
// public methods may be called from any thread (gRPC handlers, the HTTP
// server, tests); they post to the loop, and the synchronous ones wait for
// its answer. Sinks are called on the loop thread and must not block.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "corral/auth/authorizer.h"
#include "corral/auth/credentials.h"
#include "corral/auth/policy.h"
#include "corral/common/clock.h"
#include "corral/common/event_loop.h"
#include "corral/common/request_limits.h"
#include "corral/tls/tls_options.h"
#include "corral/common/resources.h"
#include "corral/master/allocator.h"
#include "corral/master/offer_constraints.h"
#include "corral/master/registry.h"
#include "corral/v1/internal.pb.h"
#include "corral/v1/maintenance.pb.h"
#include "corral/v1/master.pb.h"
#include "corral/v1/scheduler.pb.h"

namespace corral {

struct MasterOptions {
  // The clock every timer and timestamp of the master follows; null: the
  // system's. Tests pass a ManualClock and move time on by hand.
  Clock* clock = nullptr;
  // The master's ID; empty: a new one. A master elected through ZooKeeper
  // publishes its MasterInfo before it starts, so it picks the ID first.
  std::string id;
  std::string hostname = "localhost";
  std::string address = "127.0.0.1";  // advertised in MasterInfo
  int port = 5050;
  double agent_ping_timeout = 15.0;  // seconds per ping
  int max_agent_ping_timeouts = 5;   // missed pings before unreachable
  double offer_timeout = 0;          // 0 = offers never time out
  double allocation_interval = 1.0;  // full allocation cycle period
  double heartbeat_interval = 15.0;  // scheduler HEARTBEAT events
  // Where the registry lives (registry.db); empty keeps nothing across
  // restarts.
  std::string work_dir;
  // After a restart, how long agents of the registry have to reregister
  // before they are marked unreachable.
  double agent_reregister_timeout = 600.0;
  // Unreachable agents are forgotten (removed from the registry) after this
  // long, as Mesos's --registry_max_agent_age.
  double registry_max_agent_age = 14 * 24 * 3600.0;
  std::map<std::string, double> weights;
  std::map<std::string, RoleQuota> quotas;
  // What the master's port accepts of a client (HTTP, and connections not
  // yet known to be gRPC); see docs/operations.md#limits.
  RequestLimits limits;
  // TLS on the master's port (--ssl_*); see docs/security.md#tls.
  tls::TlsOptions tls;
  // The daemon's flags (name -> value), as /flags and GET_FLAGS show them;
  // empty: derived from the options above.
  std::map<std::string, std::string> flags;
  // Who must authenticate (HTTP Basic, or the same header as gRPC
  // metadata); see docs/security.md. The servers check it at the edge and
  // hand the master the principal they proved.
  auth::AuthenticationPolicy authentication;
  // What authenticated principals may do (--acls, Mesos's local authorizer);
  // null: everything. The master checks framework roles, task users and
  // agents itself; OperatorApi checks operator calls; state is filtered for
  // its viewer (StateViewer).
  std::shared_ptr<const auth::Authorizer> authorizer;
};

// Who a snapshot of the state is for. By default everything is shown (the
// master's own users: tests, LocalCluster, the CLI's local paths); Of(p)
// leaves out the frameworks, tasks and executors that --acls do not let
// principal p (nullopt: an anonymous caller) view (view_frameworks,
// view_tasks, view_executors).
struct StateViewer {
  bool everything = true;
  std::optional<std::string> principal;
  static StateViewer Of(std::optional<std::string> principal) { return {false, std::move(principal)}; }
};

// Where a framework's events go: one per subscription (gRPC or HTTP stream).
class SchedulerSink {
 public:
  virtual ~SchedulerSink() = default;
  // False when the stream is gone; the master then treats the framework as
  // disconnected.
  virtual bool Send(const v1::scheduler::Event& event) = 0;
  virtual void Close() = 0;
};

// Where the operator event stream goes (operator API SUBSCRIBE).
class OperatorSink {
 public:
  virtual ~OperatorSink() = default;
  // False when the stream is gone; the master then drops the sink.
  virtual bool Send(const v1::master::Event& event) = 0;
  virtual void Close() = 0;
};

// The master's side of one agent's connection.
class AgentLink {
 public:
  virtual ~AgentLink() = default;
  virtual bool Send(const v1::internal::MasterMessage& message) = 0;
  virtual void Close() = 0;
};

class Master {
 public:
  explicit Master(MasterOptions options);
  ~Master();

  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Recovers the registry's agents and frameworks; before any call arrives.
  // Fails, naming the file, on a registry it cannot open or read.
  absl::Status Recover(std::unique_ptr<Registry> registry);

  // --- scheduler API (any thread) ---
  // Validates and subscribes. On success SUBSCRIBED has already been queued
  // to `sink`. On error nothing is sent and the status names the problem.
  // `principal` is the one the caller authenticated as (nullopt where
  // frameworks need not authenticate): FrameworkInfo.principal must be it.
  absl::StatusOr<std::string> Subscribe(const v1::scheduler::Call& call, std::shared_ptr<SchedulerSink> sink,
                                        const std::optional<std::string>& principal = std::nullopt);
  // Every call but SUBSCRIBE. Bad calls return an error; a bad task inside
  // a valid ACCEPT becomes a TASK_ERROR update instead. An authenticated
  // `principal` must be the framework's (PERMISSION_DENIED otherwise).
  absl::Status HandleCall(const v1::scheduler::Call& call, const std::optional<std::string>& principal = std::nullopt);
  // The subscription stream of `sink` ended (client went away).
  void SubscriberGone(const std::string& framework_id, SchedulerSink* sink);

  // --- agents (any thread) ---
  // `principal`: the credential the link authenticated with (nullopt where
  // agents need not authenticate).
  uint64_t AgentConnected(std::shared_ptr<AgentLink> link, const std::optional<std::string>& principal = std::nullopt);
  void AgentMessageReceived(uint64_t link_id, const v1::internal::AgentMessage& message);
  void AgentDisconnected(uint64_t link_id);

  // --- operators (any thread) ---
  v1::internal::ClusterState GetState(const StateViewer& viewer = {});
  // The same, allocated on `arena`: much cheaper for large clusters.
  v1::internal::ClusterState* GetState(google::protobuf::Arena* arena, const StateViewer& viewer = {});
  // /master/state spends nearly all its time on tasks, and most tasks are
  // unchanged since the last request. So the master keeps, beside each task,
  // the rendering (JSON) its last reader made of it, and hands it out again
  // while the task is unchanged: its state and its latest status's state,
  // timestamp and health. A rendering may depend on nothing else of the
  // v1::Task FillTask makes but what is fixed for a task's life (IDs, name,
  // resources, role); status_update_state comes apart, as `unreachable`.
  struct TaskRenderKey {
    v1::TaskState state = v1::TASK_STAGING;
    v1::TaskState status_state = v1::TASK_STAGING;
    double status_timestamp = 0;
    int status_healthy = -1;  // -1: no health reported
    int statuses = 0;         // how many Task.statuses it shows
    // The key of a task as GetState fills it.
    static TaskRenderKey Of(const v1::Task& task);
    bool operator==(const TaskRenderKey& o) const {
      return state == o.state && status_state == o.status_state && status_timestamp == o.status_timestamp &&
             status_healthy == o.status_healthy && statuses == o.statuses;
    }
  };
  struct TaskView {
    int framework = -1;        // index into state->frameworks(); -1 if not there
    bool unreachable = false;  // its agent is unreachable (or gone)
    // The kept rendering, or else the index of the task in state->tasks().
    std::shared_ptr<const std::string> rendering;
    int task = -1;
  };
  struct RenderableState {
    v1::internal::ClusterState* state = nullptr;  // as GetState, but tasks: only those without a rendering
    std::vector<TaskView> tasks;                  // every active task, in GetState's order
  };
  RenderableState GetRenderableState(google::protobuf::Arena* arena, const StateViewer& viewer = {});
  // Renderings of tasks that came without one, to keep; one whose task has
  // changed or gone since is dropped.
  struct TaskRendering {
    std::string framework_id;
    std::string task_id;
    TaskRenderKey key;
    std::shared_ptr<const std::string> rendering;
  };
  void KeepTaskRenderings(std::vector<TaskRendering> renderings);
  // Mesos's metric names (master/..., allocator/mesos/...) and values.
  std::map<std::string, double> Metrics();
  // The flags the master runs with; fixed after construction.
  const std::map<std::string, std::string>& flags() const { return options_.flags; }
  const auth::AuthenticationPolicy& authentication() const { return options_.authentication; }
  // Null without --acls.
  const auth::Authorizer* authorizer() const { return options_.authorizer.get(); }
  // The principal a framework subscribed with ("" for none); NotFound for
  // an unknown framework.
  absl::StatusOr<std::string> FrameworkPrincipal(const std::string& framework_id);
  // Operator SUBSCRIBE: SUBSCRIBED (the whole state) is queued to `sink`,
  // then TASK_ADDED, TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED,
  // FRAMEWORK_ADDED/UPDATED/REMOVED and HEARTBEAT as they happen.
  // Each event is filtered for `viewer` as GetState is.
  absl::Status SubscribeOperator(std::shared_ptr<OperatorSink> sink, const StateViewer& viewer = {});
  void OperatorGone(OperatorSink* sink);
  // Role weights and quotas: the --weights and --quotas flags, then what
  // operators set (UPDATE_WEIGHTS, UPDATE_QUOTA). Each change is durable in
  // the registry before the call returns, and outlives --weights and
  // --quotas of later runs for the roles it names.
  std::map<std::string, double> Weights();
  std::map<std::string, RoleQuota> Quotas();
  // Role names are checked; weights must be positive and finite.
  absl::Status UpdateWeights(const std::map<std::string, double>& weights);
  // Replaces the quota of each role given; an empty quota removes it. Each
  // guarantee must fit within its limit. Unless `force`, the guarantees of
  // all roles together must fit in the agents' total resources.
  absl::Status UpdateQuotas(const std::map<std::string, RoleQuota>& quotas, bool force);
  // RESERVE_RESOURCES and UNRESERVE_RESOURCES: turn unreserved resources of
  // an agent into dynamically reserved ones for a role, and back. What they
  // change must be unallocated (the agent's offers are rescinded first), or
  // the call fails (FailedPrecondition) and nothing changes. Durable in the
  // registry before they return; kept when the agent reregisters.
  absl::Status ReserveResources(const std::string& agent_id, const Resources& resources);
  absl::Status UnreserveResources(const std::string& agent_id, const Resources& resources);
  // Wall-clock seconds when the master started.
  double start_time() const { return start_time_; }
  // TEARDOWN by an operator: the framework's tasks are killed and it is
  // removed for good.
  absl::Status TeardownFramework(const std::string& framework_id);
  // MARK_AGENT_GONE: the agent is removed; its tasks are reported
  // TASK_GONE_BY_OPERATOR, and the agent kills what it runs and stops.
  absl::Status MarkAgentGone(const std::string& agent_id);

  // --- maintenance (any thread; see docs/operations.md#maintenance) ---
  // Machines are matched to agents by hostname. Machines in the schedule
  // are draining: frameworks with tasks there get inverse offers, and offers
  // there carry the unavailability. Starting maintenance takes a machine
  // down: its agents are removed and their tasks reported gone; stopping it
  // brings the machine back up and out of the schedule.
  v1::maintenance::Schedule GetMaintenanceSchedule();
  absl::Status UpdateMaintenanceSchedule(const v1::maintenance::Schedule& schedule);
  v1::maintenance::ClusterStatus GetMaintenanceStatus();
  absl::Status StartMaintenance(const std::vector<v1::MachineID>& machines);
  absl::Status StopMaintenance(const std::vector<v1::MachineID>& machines);
  // Kills every task on the agent (grace at most config.max_grace_period)
  // and offers nothing there until ReactivateAgent; with mark_gone the
  // agent is removed once drained.
  absl::Status DrainAgent(const std::string& agent_id, const v1::DrainConfig& config);
  absl::Status ReactivateAgent(const std::string& agent_id);
  v1::MasterInfo info();
  // The MasterInfo a master with these options advertises (a new ID unless
  // options.id names one).
  static v1::MasterInfo InfoFor(const MasterOptions& options);
  // The port clients should use, once known (the server may bind port 0).
  void SetAdvertisedPort(int port);

  void Stop();

 private:
  struct OfferEntry {
    std::string id;
    std::string framework_id;
    std::string agent_id;
    std::string role;
    Resources resources;
    EventLoop::TimerId timer = 0;
  };
  struct TaskEntry {
    std::string task_id;
    std::string name;
    std::string framework_id;
    std::string agent_id;
    std::string executor_id;  // empty for command tasks
    std::string role;
    std::string user;  // the Linux user it runs as (its command's, else its executor's, else the framework's)
    Resources resources;
    v1::TaskState state = v1::TASK_STAGING;
    v1::TaskStatus latest_status;  // what reconciliation answers
    // The task's updates as they arrived, for Task.statuses (UIs show when a
    // task started from it): the first and the latest kStatusHistory - 1,
    // each in a few bytes; the last is shown as latest_status in full.
    struct StatusMark {
      double timestamp = 0;
      v1::TaskState state = v1::TASK_STAGING;
      int8_t healthy = -1;  // -1: not said
    };
    static constexpr size_t kStatusHistory = 16;
    std::vector<StatusMark> history;
    std::string history_uuid;   // of the last update marked: retries of it are not marked again
    std::string terminal_uuid;  // uuid of the terminal update, if any
    bool resources_released = false;
    // See GetRenderableState; valid while rendered_from matches the task.
    std::shared_ptr<const std::string> rendering;
    TaskRenderKey rendered_from;
  };
  struct ExecutorEntry {
    std::string role;
    std::string user;  // its command's, else the framework's
    Resources resources;
    std::set<std::string> tasks;
  };
  struct FrameworkEntry {
    std::string id;
    v1::FrameworkInfo info;
    std::vector<std::string> roles;
    std::shared_ptr<SchedulerSink> sink;
    bool connected = false;
    bool partition_aware = false;
    EventLoop::TimerId failover_timer = 0;
    std::set<std::string> offers;
    std::set<std::string> tasks;  // active task IDs
    double registered_time = 0;
    // SUBSCRIBE's or UPDATE_FRAMEWORK's; reported, not yet applied to offers.
    v1::scheduler::OfferConstraints offer_constraints;
  };
  struct AgentEntry {
    std::string id;
    v1::AgentInfo info;
    Resources total;
    std::shared_ptr<AgentLink> link;
    uint64_t link_id = 0;
    bool reachable = true;
    // In the registry, not yet reregistered since the master restarted:
    // reconciliation waits for it rather than answer.
    bool recovered = false;
    double unreachable_since = 0;  // wall clock, while unreachable
    int missed_pings = 0;
    uint64_t last_ping_acked = 0;
    double registered_time = 0;
    std::set<std::pair<std::string, std::string>> tasks;                     // (framework, task)
    std::map<std::pair<std::string, std::string>, ExecutorEntry> executors;  // (framework, executor)
    std::set<std::string> offers;
    std::optional<v1::DrainInfo> drain;  // DRAIN_AGENT, until reactivated
    AgentIdentity identity;              // what binds its ID to it (registry.h)
  };
  struct PendingLink {
    std::shared_ptr<AgentLink> link;
    std::optional<std::string> principal;
  };

  using TaskKey = std::pair<std::string, std::string>;  // (framework, task)

  // A machine in the maintenance schedule (draining) or down.
  struct MachineEntry {
    v1::MachineID id;
    v1::Unavailability unavailability;
    bool down = false;
    std::map<std::string, v1::allocator::InverseOfferStatus> statuses;  // by framework
  };
  struct InverseOfferEntry {
    std::string framework_id;
    std::string agent_id;
  };

  struct OperatorSubscriber {
    std::shared_ptr<OperatorSink> sink;
    StateViewer viewer;
  };

  // All below run on the loop thread.
  // A filter for `viewer` (one that passes everything unless --acls apply).
  auth::ViewFilter ViewFilterFor(const StateViewer& viewer) const;
  bool Visible(auth::ViewFilter& filter, const FrameworkEntry& fw);
  bool Visible(auth::ViewFilter& filter, const TaskEntry& task);
  bool CompletedTaskVisible(auth::ViewFilter& filter, const v1::Task& task);
  void FillState(v1::internal::ClusterState* state, auth::ViewFilter& filter);
  absl::Status ChangeReservations(const std::string& agent_id, const Resources& from, const Resources& to);
  // The agent's info with the dynamic reservations the master knows for it.
  v1::AgentInfo WithKeptReservations(const v1::AgentInfo& reported) const;
  static TaskRenderKey RenderKeyOf(const TaskEntry& task);
  // Without whole_info, agent_info holds only what /master/state shows.
  // Executors `filter` does not let its viewer see are left out.
  void FillAgentState(const AgentEntry& agent, v1::internal::AgentState* out, bool whole_info = true,
                      auth::ViewFilter* filter = nullptr);
  // `used_by_tasks`: what its tasks use, when the caller has summed it.
  void FillFrameworkState(const FrameworkEntry& fw, v1::internal::FrameworkState* out,
                          const Resources* used_by_tasks = nullptr);
  void FillTask(const TaskEntry& task, v1::Task* out);
  // Task.statuses: its history (see TaskEntry::history).
  void MarkStatus(TaskEntry& task, const v1::TaskStatus& status);
  void FillStatuses(const TaskEntry& task, v1::Task* out);
  // Operator events, to every operator subscriber (`visible`: whether a
  // subscriber may see it; null: all may).
  void Publish(const v1::master::Event& event, const std::function<bool(auth::ViewFilter&)>& visible = nullptr);
  void PublishTaskAdded(const TaskEntry& task);
  void PublishTaskUpdated(const TaskEntry& task);
  void PublishAgentAdded(const AgentEntry& agent);
  void PublishAgentRemoved(const std::string& agent_id);
  void PublishFramework(const FrameworkEntry& fw, v1::master::Event::Type type);
  // Hands the framework's compiled offer constraints to the allocator.
  void ApplyOfferConstraints(const FrameworkEntry& fw, std::shared_ptr<const OfferConstraints> constraints);
  absl::StatusOr<std::string> DoSubscribe(const v1::scheduler::Call& call, std::shared_ptr<SchedulerSink> sink);
  absl::Status DoCall(const v1::scheduler::Call& call);
  // register_frameworks for each of the framework's roles (--acls).
  absl::Status AuthorizeRoles(const v1::FrameworkInfo& info);
  absl::Status UpdateFramework(FrameworkEntry& fw, const v1::scheduler::Call::UpdateFramework& update);
  absl::Status Accept(FrameworkEntry& fw, const v1::scheduler::Call::Accept& accept);
  absl::Status Decline(FrameworkEntry& fw, const v1::scheduler::Call::Decline& decline);
  absl::Status Kill(FrameworkEntry& fw, const v1::scheduler::Call::Kill& kill);
  absl::Status Acknowledge(FrameworkEntry& fw, const v1::scheduler::Call::Acknowledge& ack);
  absl::Status Reconcile(FrameworkEntry& fw, const v1::scheduler::Call::Reconcile& rec);
  absl::Status Message(FrameworkEntry& fw, const v1::scheduler::Call::Message& msg);
  absl::Status ShutdownExecutor(FrameworkEntry& fw, const v1::scheduler::Call::Shutdown& sd);
  void RemoveFramework(const std::string& framework_id, const std::string& why);

  void OnRegister(uint64_t link_id, const v1::internal::RegisterAgent& msg);
  void OnReregister(uint64_t link_id, const v1::internal::ReregisterAgent& msg);
  void OnStatusUpdate(AgentEntry& agent, const v1::internal::StatusUpdate& msg);
  void OnExecutorMessage(AgentEntry& agent, const v1::internal::ExecutorToFramework& msg);
  void OnExecutorExited(AgentEntry& agent, const v1::internal::ExecutorExited& msg);
  void AdmitAgent(AgentEntry& agent);
  // Tells the agent why it is not admitted, and closes its link. `retry`:
  // the master's own passing failure; the agent keeps what it runs.
  void RefuseAgent(AgentLink& link, const std::string& why, bool retry = false);
  void MarkUnreachable(AgentEntry& agent);
  // Maintenance (maintenance.cc).
  MachineEntry* MachineOf(const std::string& hostname);
  absl::Status PersistMaintenance();
  void RecoverMaintenance();
  absl::Status PersistRoles();
  void RecoverRoles();
  void SendInverseOffers();
  void RescindInverseOffers(const std::string& agent_id);
  absl::Status AnswerInverseOffers(FrameworkEntry& fw, const google::protobuf::RepeatedPtrField<v1::OfferID>& ids,
                                   v1::allocator::InverseOfferStatus::Status answer);
  void RemoveAgentForMaintenance(const std::string& agent_id, const std::string& why);
  // Asks the agent to kill every task (once per drain, and again when it
  // reregisters); ContinueDrain marks it drained once nothing is left.
  void KillForDrain(AgentEntry& agent);
  void ContinueDrain(AgentEntry& agent);
  void ExpireRecoveredAgents();
  // Forgets agents unreachable for longer than registry_max_agent_age.
  void ForgetOldUnreachableAgents();
  void PingAgents();

  void ScheduleAllocation(const std::string& agent_id);  // "" = all agents
  void RunAllocation();
  void PeriodicAllocation();
  void SendHeartbeats();
  void RescindOffer(const std::string& offer_id, bool recover, double refuse_seconds);
  void RemoveOffer(const std::string& offer_id);

  void SendToFramework(FrameworkEntry& fw, const v1::scheduler::Event& event);
  void SendToAgent(AgentEntry& agent, const v1::internal::MasterMessage& msg);
  void SendMasterUpdate(FrameworkEntry& fw, const TaskEntry* task, const std::string& task_id,
                        const std::string& agent_id, v1::TaskState state, v1::TaskStatus::Reason reason,
                        const std::string& message);
  void ReleaseTaskResources(TaskEntry& task);
  void RemoveTask(const TaskKey& key);
  AgentEntry* FindAgentByLink(uint64_t link_id);
  FrameworkEntry* FindFramework(const std::string& id);
  std::string NextId(const char* prefix);

  MasterOptions options_;
  Clock* clock_;
  std::unique_ptr<Registry> registry_;
  v1::MasterInfo info_;
  Allocator allocator_;
  std::map<std::string, FrameworkEntry> frameworks_;
  std::map<std::string, AgentEntry> agents_;
  std::unordered_map<uint64_t, std::string> link_agents_;  // link -> agent ID
  std::unordered_map<uint64_t, PendingLink> pending_links_;
  std::map<std::string, OfferEntry> offers_;
  std::map<TaskKey, TaskEntry> tasks_;
  v1::maintenance::Schedule schedule_;
  std::map<std::string, MachineEntry> machines_;             // by lowercase hostname
  std::map<std::string, InverseOfferEntry> inverse_offers_;  // by inverse offer ID
  std::vector<OperatorSubscriber> operator_sinks_;
  std::map<std::string, double> weights_;  // roles without one weigh 1
  std::map<std::string, RoleQuota> quotas_;
  std::vector<v1::Task> completed_tasks_;  // bounded ring for state endpoints
  size_t completed_next_ = 0;
  // Cumulative counters for Metrics().
  std::map<v1::TaskState, uint64_t> terminal_tasks_;
  uint64_t allocation_runs_ = 0;
  double last_allocation_ms_ = 0;
  double start_time_ = 0;
  uint64_t next_link_ = 1;
  uint64_t next_id_ = 0;
  uint64_t ping_sequence_ = 0;
  bool allocation_pending_ = false;
  bool allocate_all_ = false;
  std::set<std::string> dirty_agents_;
  bool stopped_ = false;

  EventLoop loop_;  // last: destroyed (joined) first
};

}  // namespace corral
