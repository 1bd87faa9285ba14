// The agent: registers with the master, runs tasks and executors, and
// delivers their status updates reliably.
//
// Threading: all state belongs to the agent's EventLoop. Public methods may
// be called from any thread (gRPC handlers, tests) and post to the loop.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "corral/agent/sandbox_files.h"
#include "corral/auth/authorizer.h"
#include "corral/auth/executor_tokens.h"
#include "corral/auth/policy.h"
#include "corral/agent/cgroups.h"
#include "corral/agent/checkpoint_writer.h"
#include "corral/agent/status_updates.h"
#include "corral/common/clock.h"
#include "corral/common/event_loop.h"
#include "corral/common/request_limits.h"
#include "corral/tls/tls_options.h"
#include "corral/common/process.h"
#include "corral/common/resources.h"
#include "corral/v1/agent.pb.h"
#include "corral/v1/executor.pb.h"
#include "corral/v1/internal.pb.h"

namespace corral {

struct AgentOptions {
  // The clock every timer and timestamp of the agent follows; null: the
  // system's. Tests pass a ManualClock.
  Clock* clock = nullptr;
  // "host:port" of the master, or zk://host:port[,...]/path to follow the
  // leader elected through ZooKeeper (reregistering on every change).
  std::string master;
  // The Authorization value the agent presents to the master (HTTP Basic
  // of its --credential, as gRPC metadata); empty: none.
  std::string master_authorization;
  // Who must authenticate to the agent's own HTTP API and its sandbox reads
  // (--http_credentials, --authenticate_http_readonly/readwrite); see
  // docs/security.md. Its frameworks/agents fields are unused.
  auth::AuthenticationPolicy http_authentication;
  // --acls: whose sandboxes each principal may read (access_sandboxes, by
  // the user the sandbox's container runs as); null: anyone's.
  std::shared_ptr<const auth::Authorizer> authorizer;
  // Signs each executor container's MESOS_EXECUTOR_AUTHENTICATION_TOKEN
  // (--jwt_secret_key); null: executors get none.
  std::shared_ptr<const auth::ExecutorTokens> executor_tokens;
  // Executor calls must carry the token of the executor's own container
  // (--authenticate_http_executors; needs executor_tokens).
  bool authenticate_executors = false;
  std::string work_dir = "/tmp/corral-agent";
  std::string hostname = "localhost";
  std::string ip = "127.0.0.1";      // where executors reach the agent
  int port = 5051;                   // executor API port (set by AgentServer)
  std::string resources;             // Mesos text syntax; overrides detection per name
  std::string attributes;            // "rack:a;zone:b"
  bool cgroups = true;               // use cgroups where the kernel allows
  bool cgroups_enable_cfs = false;   // hard cpu quota as well as shares
  uint64_t cgroups_pids_max = 4096;  // processes (and threads) per container; 0 = unlimited
  // Under each cgroup hierarchy; this agent's alone. Empty: derived from
  // the work dir ("corral/agent-<hash>"), so agents sharing a host never
  // touch each other's cgroups.
  std::string cgroups_root;
  std::string launcher_dir;  // where corral-default-executor lives
  double registration_backoff = 1.0;
  double status_update_retry_min = 2.0;
  double status_update_retry_max = 60.0;
  double executor_registration_timeout = 60.0;
  double executor_shutdown_grace = 5.0;
  double default_kill_grace = 3.0;
  // Sandbox garbage collection (see sandbox_gc.h).
  double gc_delay = 7 * 24 * 3600.0;  // how long a finished sandbox is kept
  double gc_disk_headroom = 0.1;      // disk fraction kept free by removing sandboxes sooner
  double disk_watch_interval = 60;    // how often disk usage is checked and sandboxes removed
  // The daemon's flags (name -> value), as /flags and GET_FLAGS show them;
  // derived from the options above when empty.
  std::map<std::string, std::string> flags;
  // After a restart: "reconnect" recovers the checkpointed state (tasks of
  // checkpointing frameworks keep running); "cleanup" kills everything the
  // last run started and registers as a new agent.
  std::string recover = "reconnect";
  // How long a recovered executor has to subscribe again before it is killed.
  double executor_reregistration_timeout = 10.0;
  // What a checkpointing framework's executor is told (MESOS_RECOVERY_TIMEOUT,
  // MESOS_SUBSCRIPTION_BACKOFF_MAX): how long it keeps trying to subscribe
  // again while the agent is away, and the longest wait between two tries.
  double recovery_timeout = 15 * 60.0;
  double executor_subscription_backoff_max = 2.0;
  // The disk resource of containers (see disk_quota.h): how often sandboxes
  // are measured, and whether a container over its disk is killed.
  double container_disk_watch_interval = 15.0;
  bool enforce_container_disk_quota = true;
  // What the agent's port accepts of a client; see
  // docs/operations.md#limits.
  RequestLimits limits;
  // TLS on the agent's port and to the master (--ssl_*: the same
  // certificate serves and, where the master asks, identifies the agent);
  // executors are told to reach the agent over TLS. docs/security.md#tls.
  tls::TlsOptions tls;
};

// Where an executor's events go (its subscription stream).
class ExecutorSink {
 public:
  virtual ~ExecutorSink() = default;
  virtual bool Send(const v1::executor::Event& event) = 0;
  virtual void Close() = 0;
};

class MasterLink;
namespace zk {
class MasterDetector;
}
class WorkDirLock;

class Agent {
 public:
  explicit Agent(AgentOptions options);
  ~Agent();

  // Detects resources and cgroups, recovers the state checkpointed under
  // the work dir by an earlier run, then connects to the master in the
  // background (reconnecting with backoff). `port` is where executors reach
  // this agent. Fails on bad options, and on checkpoints it cannot trust
  // (naming the file).
  absl::Status Start(int port);
  // Disconnects and kills every task and executor.
  void Stop();
  // Stops without killing anything or touching the work dir, as a crash
  // would: a new Agent on the same work dir recovers what is left.
  void Abandon();

  // --- executor API (any thread) ---
  // `authorization`: the call's Authorization value ("Bearer <token>"),
  // checked against the executor's container with authenticate_executors.
  absl::Status ExecutorSubscribe(const v1::executor::Call& call, std::shared_ptr<ExecutorSink> sink,
                                 const std::string& authorization = "");
  absl::Status ExecutorCall(const v1::executor::Call& call, const std::string& authorization = "");
  void ExecutorGone(const std::string& framework_id, const std::string& executor_id, ExecutorSink* sink);

  // Reads `length` bytes (0, or more than kMaxSandboxRead: kMaxSandboxRead)
  // at `offset` of `path` (relative, inside the task's sandbox). Returns
  // the data and the file's size. Paths that leave the sandbox are refused.
  static constexpr int64_t kMaxSandboxRead = 1 << 20;
  // `principal`: who asks (nullopt: nobody authenticated), for --acls.
  absl::StatusOr<std::pair<std::string, int64_t>> ReadSandboxFile(
      const std::string& framework_id, const std::string& task_id, const std::string& path, int64_t offset,
      int64_t length, const std::optional<std::string>& principal = std::nullopt);

  // --- HTTP endpoints (any thread) ---
  // Frameworks, executors and tasks as the agent sees them, for /state and
  // the agent operator API.
  v1::internal::AgentSnapshot Snapshot();
  // Snapshot() as `principal` may view it under the --acls (view_frameworks,
  // view_executors, view_tasks, by the user each runs as): what it may not
  // view is left out, as the master's state is. Any thread but the loop's.
  v1::internal::AgentSnapshot SnapshotFor(const std::optional<std::string>& principal);
  // What each live container uses now (cpu times, memory, processes) with
  // its limits, for GET_CONTAINERS and /monitor/statistics. Any thread but
  // the loop's: /proc and the cgroups are read on the caller's thread.
  v1::agent::Response::GetContainers ContainerUsage();
  // Mesos's agent metric names: slave/tasks_running, slave/cpus_used, ...
  std::map<std::string, double> Metrics();
  // Fixed once Start() has run.
  const std::map<std::string, std::string>& flags() const { return options_.flags; }
  const auth::AuthenticationPolicy& http_authentication() const { return options_.http_authentication; }
  // Opens `path` for /files, LIST_FILES and READ_FILE, in one of the
  // sandboxes whose files may be served: live containers' and those kept
  // after their tasks ended, until garbage collected (sandbox_files::Open's
  // errors). PermissionDenied, naming access_sandboxes, where --acls do not
  // let `principal` read the files of the user that sandbox's container
  // runs as.
  absl::StatusOr<sandbox_files::OpenFile> OpenSandboxFile(const std::string& path,
                                                          const std::optional<std::string>& principal);

  // --- introspection and test hooks (any thread) ---
  std::string id();
  bool registered();
  Resources total() { return total_; }
  size_t running_tasks();
  // Status updates produced and not yet acknowledged, over all tasks.
  size_t pending_updates();
  const std::string& cgroups_status() const { return cgroups_status_; }
  // How long Start() spent recovering the last run's state (seconds).
  double recovery_seconds() const { return recovery_seconds_; }
  // While paused the agent ignores the master's pings (a hung agent).
  void SetPaused(bool paused) { paused_ = paused; }
  // Fault injection for tests: launches from the master are dropped, as if
  // lost with a connection.
  void SetDropLaunches(bool drop) { drop_launches_ = drop; }
  // Why the master refused this agent ("" if it has not).
  std::string refusal();
  // Called (on the loop) when the master refuses this agent.
  void SetOnRefused(std::function<void(const std::string&)> fn) { on_refused_ = std::move(fn); }

 private:
  // The members below are defined by job across core/agent/src (tasks.cc,
  // containers.cc, executors.cc, master_link.cc, recovery.cc, ...);
  // agent_impl.h lists which file holds which.
  using Key = std::pair<std::string, std::string>;  // (framework, task or executor)

  struct TaskRecord {
    std::string framework_id;
    v1::TaskInfo info;
    std::string executor_id;  // empty: a command task run by the agent
    v1::TaskState state = v1::TASK_STAGING;
    v1::TaskStatus latest;  // last status produced
    pid_t pid = 0;
    std::string container_id;
    std::string sandbox;
    bool killing = false;
    bool terminal = false;  // a terminal update has been produced
    v1::TaskState kill_state = v1::TASK_KILLED;
    v1::TaskStatus::Reason kill_reason = v1::TaskStatus::REASON_COMMAND_EXECUTOR_FAILED;
    bool has_kill_reason = false;
    std::string kill_message;
    EventLoop::TimerId kill_timer = 0;
    EventLoop::TimerId deadline_timer = 0;
    // TaskInfo.health_check of a command task, run by the agent.
    struct Health {
      double running_since = 0;  // SteadyNow(); the grace period counts from here
      uint32_t consecutive_failures = 0;
      bool succeeded_once = false;  // ends the grace period
      bool reported = false;        // a health update has been produced
      bool healthy = false;         // the last one's value
      pid_t check_pid = 0;          // the check in flight
      bool timed_out = false;
      EventLoop::TimerId next = 0;
      EventLoop::TimerId timeout = 0;
    } health;
    // TaskInfo.check (Mesos's general checks) of a command task: the agent
    // runs it and reports each change of its result in check_status.
    struct Check {
      v1::CheckStatusInfo last;  // what the latest update said; starts with the type only
      pid_t check_pid = 0;
      bool timed_out = false;
      EventLoop::TimerId next = 0;
      EventLoop::TimerId timeout = 0;
    } check;
    bool killed_unhealthy = false;  // the final status says healthy=false
    bool over_disk = false;         // killed for its disk: the final status names it
    double started_at = 0;          // wall clock when the container started
    bool checkpointing = false;     // its launch is being written down; nothing started yet
  };
  struct ExecutorRecord {
    std::string framework_id;
    v1::ExecutorInfo info;
    std::string container_id;
    std::string sandbox;
    pid_t pid = 0;
    std::shared_ptr<ExecutorSink> sink;
    std::vector<v1::TaskInfo> queued;
    std::vector<v1::TaskGroupInfo> queued_groups;
    std::set<std::string> tasks;  // tasks given to it
    bool shutting_down = false;
    EventLoop::TimerId registration_timer = 0;
    EventLoop::TimerId shutdown_timer = 0;
    Limits limits;
    bool recovered = false;  // started by an earlier run of the agent
    bool reregistration_timed_out = false;
    std::string over_disk;  // killed for its disk: why, for its tasks' final status
  };

  // Checkpointing (see checkpoint.h). Frameworks with checkpoint=true get
  // their tasks, executors and update streams written (synced) under
  // <work_dir>/meta; every container is recorded there, so that a restarted
  // agent can reattach the recoverable ones and kill the rest. The writes
  // go through writer_, off the loop and in order; what must wait for one
  // to be durable waits for its callback.
  absl::Status Recover();
  void KillRecordedContainers(const std::string& boot_id);
  // Kills whatever runs in this agent's cgroups but those of `adopted`
  // (container ID -> cgroup name), which are taken back.
  void SweepCgroups(const std::map<std::string, std::string>& adopted);
  bool Checkpoints(const std::string& framework_id) const;
  std::string FrameworkMetaDir(const std::string& framework_id) const;
  // A writer callback that runs `then` on the loop (or not at all once the
  // loop has stopped).
  CheckpointWriter::Done OnLoop(std::function<void(const absl::Status&)> then);
  void CheckpointAgent();
  // Records `info` as the framework's (and writes it if it checkpoints and
  // changed; `done`, on the writer's thread, only then).
  void CheckpointFramework(const std::string& framework_id, const v1::FrameworkInfo& info,
                           CheckpointWriter::Done done = nullptr);
  // Queues the task's checkpoint, `done` on the writer's thread once it is
  // durable; false (and `done` never called) when there is nothing to write:
  // the framework does not checkpoint or the task is unknown.
  bool CheckpointTask(const Key& key, CheckpointWriter::Done done = nullptr);
  // Writes a checkpointing framework's launch down (the framework and its
  // `tasks`); `then` on the loop with the first error, once durable.
  void CheckpointLaunch(const v1::FrameworkInfo& framework, const std::vector<Key>& tasks,
                        std::function<void(const absl::Status&)> then);
  // `then` on the loop once every checkpoint queued so far is durable (at
  // once for a framework that does not checkpoint).
  void AfterCheckpoints(const std::string& framework_id, std::function<void()> then);
  void CheckpointExecutor(const Key& key);
  void ForgetTask(const Key& key);
  void ForgetExecutor(const Key& key);
  void CheckpointContainer(const std::string& container_id, const std::string& framework_id,
                           const std::string& executor_id, pid_t pid, const std::string& sandbox,
                           const std::string& status_path, bool recoverable, const std::string& cgroup,
                           CheckpointWriter::Done done);
  void ForgetContainer(const std::string& container_id);
  void OnRecoveredContainerExit(const v1::internal::ContainerCheckpoint& c, ExitInfo exit);
  void ResumeRecoveredTask(const Key& key);
  // Fails the task (REASON_MAX_COMPLETION_TIME_REACHED) in `seconds`.
  void ArmDeadline(const Key& key, double seconds);
  void ReconcileExecutorTasks(ExecutorRecord& ex, const Key& key, const v1::executor::Call& subscribe);

  // SIGKILLs the process group of every running task and executor; returns
  // how many there were.
  size_t KillContainers();

  void Connect();
  void OnMasterMessage(const v1::internal::MasterMessage& msg);
  void OnLinkDone(MasterLink* link, const std::string& why);
  void OnMasterDetected(const std::string& address);
  void SendToMaster(const v1::internal::AgentMessage& msg);

  // RunTask and RunTaskGroup record the tasks and, for a checkpointing
  // framework, write them down; StartTask and StartTaskGroup start them,
  // once that is durable.
  void RunTask(const v1::internal::RunTask& msg);
  void StartTask(const v1::internal::RunTask& msg, const absl::Status& checkpointed);
  // TASK_FAILED from the agent with REASON_CONTAINER_LAUNCH_FAILED and `why`.
  void FailLaunch(TaskRecord& task, const std::string& why);
  // The terminal update of a task killed before it started.
  void KilledDuringLaunch(TaskRecord& task);
  void RunTaskGroup(const v1::internal::RunTaskGroup& msg);
  void StartTaskGroup(const v1::internal::RunTaskGroup& msg, const absl::Status& checkpointed);
  void KillTask(const std::string& framework_id, const std::string& task_id, const v1::KillPolicy* policy);
  void LaunchCommandTask(TaskRecord& task, const v1::FrameworkInfo& framework);
  void StartCommandTask(TaskRecord& task, const v1::FrameworkInfo& framework);
  // The command of a command task has been let go: TASK_RUNNING.
  void OnCommandStarted(const Key& key);
  // Health checks (COMMAND, HTTP, TCP) as Mesos defines them; each check is a
  // process (the check's command, or corral-check), killed at its timeout.
  void ScheduleHealthCheck(const Key& key, double after_seconds);
  void RunHealthCheck(const Key& key);
  void OnHealthCheckDone(const Key& key, pid_t pid, const ExitInfo& exit);
  // General checks (TaskInfo.check): the same processes, but the result is
  // reported as it is (exit code, HTTP status, connected) and never acted on.
  void ScheduleCheck(const Key& key, double after_seconds);
  void RunCheck(const Key& key);
  void OnCheckDone(const Key& key, pid_t pid, const ExitInfo& exit);
  // A check's result with nothing in it (no check has finished): its type
  // and the empty message of its kind.
  static v1::CheckStatusInfo EmptyCheckResult(const v1::CheckInfo& check);
  static v1::CheckStatusInfo LastCheckResult(const TaskRecord& task);
  // Starts health checks and general checks on a task that has just started.
  void StartChecks(const Key& key, TaskRecord& task);
  void StopChecks(TaskRecord& task);
  // The process of one check of `task`: its command with the task's
  // environment, user and sandbox, output to `log`.
  LaunchSpec CheckSpec(const Key& key, const TaskRecord& task, const std::string& log);
  // Runs `spec` and calls `done` on the loop with its pid when it exits.
  absl::StatusOr<pid_t> StartCheckProcess(const LaunchSpec& spec, std::function<void(pid_t, const ExitInfo&)> done);
  void OnTaskFetched(const Key& key, const v1::FrameworkInfo& framework, const absl::Status& fetched);
  // MESOS_EXECUTOR_AUTHENTICATION_TOKEN for an executor's container, or
  // nothing without executor_tokens.
  std::map<std::string, std::string> ExecutorTokenEnvironment(const Key& key, const std::string& container_id);
  // Any thread: the claims a call's token proves (nullopt where executors
  // need not authenticate), or why it proves nothing for this call.
  absl::StatusOr<std::optional<auth::ExecutorClaims>> CheckExecutorToken(const v1::executor::Call& call,
                                                                         const std::string& authorization);
  absl::Status CheckExecutorContainer(const std::optional<auth::ExecutorClaims>& claims, const ExecutorRecord& ex);
  void OnExecutorFetched(const Key& key, const v1::CommandInfo& cmd, const v1::FrameworkInfo& framework,
                         const absl::Status& fetched);
  // Runs corral-fetcher for `cmd`'s URIs in the (new) sandbox, as the task's
  // user; `done` runs on the loop with the outcome.
  absl::StatusOr<pid_t> StartFetcher(const std::string& framework_id, const std::string& executor_id,
                                     const std::string& container_id, const v1::CommandInfo& cmd,
                                     const v1::FrameworkInfo& framework, std::string* sandbox,
                                     std::function<void(const absl::Status&)> done);
  // A helper binary beside the agent's (or in --launcher_dir).
  std::string LauncherPath(const std::string& name) const;
  // `task_limits`: what the new task (or group) adds to the container.
  ExecutorRecord* EnsureExecutor(const v1::FrameworkInfo& framework, const v1::ExecutorInfo& info,
                                 const Limits& task_limits, std::string* error);
  void DeliverToExecutor(ExecutorRecord& ex);
  void ShutdownExecutor(const Key& key, const std::string& why);
  void OnTaskExited(const Key& key, const ExitInfo& exit);
  void OnExecutorExited(const Key& key, const ExitInfo& exit);
  void Kill(TaskRecord& task, const v1::KillPolicy* policy);

  // Status updates (status_updates.cc).
  StatusUpdateManager::Hooks UpdateHooks();
  void ProduceUpdate(const std::string& framework_id, v1::TaskStatus status);
  // The framework's info; an empty one for a framework this agent no longer
  // knows (torn down while one of its containers was still ending).
  const v1::FrameworkInfo& FrameworkOf(const std::string& framework_id) const;
  void RecordCompletedFramework(const std::string& framework_id, v1::FrameworkInfo info);
  // As a Mesos agent does: a framework with no task or executor left here is
  // done on this agent (its records move to completed_frameworks and its
  // checkpoints go); its next task brings it back.
  void RetireFrameworkIfIdle(const std::string& framework_id);
  void DescribeContainer(const TaskRecord& task, v1::ContainerStatus* out) const;
  void OnAcknowledgement(const v1::internal::StatusUpdateAcknowledgement& ack);
  void RetryUpdates();
  v1::TaskStatus MakeStatus(const TaskRecord& task, v1::TaskState state, v1::TaskStatus::Source source,
                            const std::string& message);

  std::string SandboxFor(const std::string& framework_id, const std::string& executor_id,
                         const std::string& container_id);
  std::map<std::string, std::string> BaseEnvironment(const std::string& framework_id, const std::string& executor_id,
                                                     const std::string& sandbox, const v1::FrameworkInfo& framework);
  Limits LimitsFor(const Resources& r) const;
  // A task's resources with its TaskInfo.limits.
  Limits LimitsFor(const v1::TaskInfo& task) const;
  // Starts `cmd` in a container: a sandbox under the work dir (returned in
  // *sandbox), a cgroup with `limits`, its own process group, and the
  // volumes of `container` bind-mounted in a mount namespace of its own. `on_exit` runs
  // on the loop once the process is reaped. On failure nothing is left.
  // `on_started` (if any) runs on the loop once the command is let go: right
  // after this returns for a container that dies with the agent, once its
  // record is durable for a recoverable one (which waits at its start gate
  // until then), and never if the agent stops first. It runs before
  // `on_exit`.
  absl::StatusOr<pid_t> StartContainer(const std::string& framework_id, const std::string& executor_id,
                                       const std::string& container_id, const v1::CommandInfo& cmd,
                                       const v1::ContainerInfo& container, const v1::FrameworkInfo& framework,
                                       const Limits& limits, const std::map<std::string, std::string>& extra_env,
                                       std::string* sandbox, std::function<void(const ExitInfo&)> on_exit,
                                       std::function<void()> on_started = nullptr);
  // The bind mounts of a container's volumes, their sandbox ends made (and
  // given to `user`, who runs the container).
  absl::StatusOr<std::vector<BindMount>> VolumeMounts(const v1::ContainerInfo& container, const std::string& sandbox,
                                                      const std::string& user);
  void CleanupTask(const Key& key);
  void DestroyCgroupsLater(const std::string& container_id);
  // A container ended: its sandbox (used by `tasks`) becomes garbage, to be
  // removed by CollectSandboxes() once old enough.
  void SandboxFinished(const std::string& sandbox, std::vector<Key> tasks);
  static std::vector<Key> ExecutorTaskKeys(const std::string& framework_id, const ExecutorRecord& ex);
  void CollectSandboxes();
  // Measures running containers' sandboxes off the loop and kills those
  // over their disk (enforce_container_disk_quota).
  void WatchDisk();
  struct DiskUse {
    Key key;  // the command task, or the executor
    bool executor = false;
    std::string sandbox;
    uint64_t limit = 0;  // bytes
    uint64_t used = 0;
  };
  void OnDiskUse(const std::vector<DiskUse>& uses);
  // `user`: who the sandbox's container runs as (SandboxUser).
  void RememberSandbox(const Key& key, const std::string& sandbox, const std::string& user);
  // `command`'s user, else the framework's.
  std::string SandboxUser(const std::string& framework_id, const v1::CommandInfo& command) const;
  // For the HTTP endpoints (agent_state.cc).
  void FillTask(const TaskRecord& task, v1::Task* out) const;
  void RecordCompletedTask(const TaskRecord& task);
  void RecordCompletedExecutor(const Key& key, const ExecutorRecord& ex);
  void CountTerminal(v1::TaskState state);

  AgentOptions options_;
  Clock* clock_;
  std::unique_ptr<WorkDirLock> work_dir_lock_;  // held from Start until destroyed or abandoned
  std::string meta_dir_;                        // <work_dir>/meta
  std::string boot_id_;
  std::unique_ptr<Cgroups> cgroups_;
  std::string cgroups_status_;
  double recovery_seconds_ = 0;
  Resources total_;
  v1::AgentInfo info_;
  std::string agent_id_;
  std::string agent_secret_;  // issued with agent_id_: proves a reregistration is ours
  bool registered_ = false;
  bool stopping_ = false;
  std::atomic<bool> paused_{false};
  std::atomic<bool> abandoned_{false};
  std::atomic<bool> drop_launches_{false};
  std::function<void(const std::string&)> on_refused_;
  std::string refusal_;

  std::shared_ptr<MasterLink> link_;
  // A link whose master goes silent is dead even when the connection says
  // nothing (the master's host lost without a reset): no message for
  // master_silence_limit_ seconds — before registration a fixed time, then
  // the master's total ping timeout — and it is closed and made again.
  absl::Time master_heard_at_ = absl::InfinitePast();  // steady clock
  double master_silence_limit_ = 0;                    // 0: none
  void WatchMaster();                                  // every second
  std::string master_address_;                         // where the (leading) master is now; "" while unknown
  bool connect_pending_ = false;                       // a reconnect is scheduled
  // Follows the master (fixed, or elected through ZooKeeper); its callbacks
  // post to the loop.
  std::unique_ptr<zk::MasterDetector> detector_;
  std::map<std::string, v1::FrameworkInfo> frameworks_;
  std::map<Key, TaskRecord> tasks_;
  std::map<Key, ExecutorRecord> executors_;
  StatusUpdateManager updates_{UpdateHooks(), clock_, options_.status_update_retry_min,
                               options_.status_update_retry_max};
  // Finished tasks and executors, newest last, bounded, for /state.
  std::deque<v1::Task> completed_tasks_;
  std::deque<v1::internal::AgentSnapshot::Executor> completed_executors_;
  std::deque<v1::FrameworkInfo> completed_frameworks_;  // torn down, with their IDs set
  std::map<int, uint64_t> terminal_counts_;             // by TaskState, for Metrics()
  uint64_t valid_status_updates_ = 0;
  double start_time_ = 0;  // wall clock
  // Sandboxes of tasks, kept after the task is gone so output stays readable.
  struct KeptSandbox {
    std::string directory;
    std::string user;  // its container's
  };
  std::map<Key, KeptSandbox> sandboxes_;
  std::deque<Key> sandbox_order_;

  // Removes finished containers' cgroups off the agent's loop (rmdir waits
  // for the kernel to let go of the last process).
  std::unique_ptr<EventLoop> cgroup_cleaner_;
  struct FinishedSandbox {
    double finished_at;  // SteadyNow()
    std::string path;
    std::vector<Key> tasks;
  };
  std::deque<FinishedSandbox> finished_sandboxes_;  // oldest first
  std::unique_ptr<EventLoop> sandbox_remover_;      // removes directories off the agent loop
  std::unique_ptr<EventLoop> disk_watcher_;         // measures sandboxes off the agent loop
  std::unique_ptr<CheckpointWriter> writer_;        // every write under meta_dir_, from Recover() on
  // Shared so that callbacks from other threads (the reaper, gRPC) can hold
  // it weakly and find it stopped, rather than dangling, after the agent.
  std::shared_ptr<EventLoop> loop_;  // last: stopped first
};

}  // namespace corral
