// The service: batch's state (jobs, their runs, the DAG) and what changes
// it. It owns one event loop; the REST handlers and the SDK adapter hand it
// work from their threads, and every field below is touched on that loop
// only. It reaches the cluster through framework::Cluster, so that it can
// be driven without one, and it asks its Clock for the time, so that a
// test can move days on in a millisecond.
//
// Every change is one Step: the state is changed, the Step is written to
// the store in one transaction, and only then do the cluster calls of the
// Step go out (launches) or are updates acknowledged. Updates that arrive
// together are applied and written together (one fsync for many).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "corral/common/clock.h"
#include "corral/common/event_loop.h"
#include "corral/framework/driver_adapter.h"
#include "planner/planner.h"
#include "store/store.h"

namespace corral::batch {

using framework::Cluster;

struct ServiceOptions {
  std::string role = "*";
  double reconciliation_interval = 60;  // seconds between reconciliations
};

struct Metrics {
  int64_t runs_started = 0, runs_succeeded = 0, runs_failed = 0, instants_missed = 0;
  int64_t tasks_launched = 0, task_retries = 0;
  // Seconds from each run's scheduled instant to its first TASK_RUNNING,
  // the last 10,000 (scheduled runs only).
  std::vector<double> lateness;
  size_t lateness_next = 0;
  double lateness_sum = 0;
  int64_t lateness_count = 0;
};

// What readers see (Service::Read).
struct ServiceState {
  std::map<std::string, JobState> jobs;
  std::map<std::string, std::vector<std::string>> children;  // parent -> children
  std::string framework_id;
  bool subscribed = false;
  Metrics metrics;
};

class Service : public framework::FrameworkEvents {
 public:
  Service(std::unique_ptr<Store> store, ServiceOptions options, Clock* clock = RealClock());
  ~Service() override;

  // Loads the store. Any thread, once, before anything else.
  absl::Status Load();
  std::optional<std::string> StoredFrameworkId() const { return stored_framework_id_; }
  void SetCluster(Cluster* cluster);  // before the SDK driver starts; null detaches
  void Stop();
  absl::Time Now() const { return clock_->Now(); }

  // --- from the REST APIs (any thread but the loop's; they wait) ---
  template <typename Fn>
  auto Read(Fn fn) {
    return loop_.Call([this, &fn] { return fn(static_cast<const ServiceState&>(state_)); });
  }
  // The job must be valid (ValidateJob). AlreadyExists; InvalidArgument for
  // an unknown parent or a cycle.
  absl::Status CreateJob(Job job);
  // Replaces the definition; `keep_schedules` (Metronome's PUT) keeps the
  // schedules it has. NotFound unless `create`.
  absl::Status UpdateJob(Job job, bool keep_schedules, bool create);
  // FailedPrecondition when runs are active and !stop_runs, or when other
  // jobs have it as a parent.
  absl::Status DeleteJob(const std::string& id, bool stop_runs);
  absl::Status PutSchedule(const std::string& job_id, Schedule schedule, bool create);
  absl::Status DeleteSchedule(const std::string& job_id, const std::string& schedule_id);
  // A manual run, with the job's environment and arguments overridden.
  // FailedPrecondition under FORBID while a run is active.
  absl::StatusOr<Run> StartRun(const std::string& job_id, std::map<std::string, std::string> env,
                               std::optional<std::vector<std::string>> args);
  absl::StatusOr<Run> StopRun(const std::string& job_id, const std::string& run_id);
  absl::Status StopAllRuns(const std::string& job_id);  // Chronos's task/kill
  // Chronos's job/success: a successful run now, and the children it frees.
  absl::Status MarkSuccess(const std::string& job_id);

  // --- from the SDK adapter (any thread; they return at once) ---
  void Subscribed(const std::string& framework_id) override;
  void Disconnected() override;
  void Offers(std::vector<v1::Offer> offers) override;
  void Update(v1::TaskStatus status) override;

 private:
  struct Step {
    std::set<std::string> jobs, deleted_jobs, stats;
    std::set<std::pair<std::string, std::string>> schedules, deleted_schedules, runs;
    std::vector<std::pair<std::string, std::string>> deleted_runs;  // (job, run)
    std::vector<std::function<void()>> after;                       // cluster calls, once stored
    void Merge(Step&& other);
    bool empty() const;
  };
  // Everything below: the loop thread only.
  absl::Status Commit(Step& step);
  static absl::Status StoreFailed(const absl::Status& s);
  void SetWake(const std::string& job_id, int64_t ms);
  void ArmTimer();
  void Tick();
  void PlanOne(JobState& js, absl::Time now, Step& step);
  Run& CreateRun(JobState& js, int64_t instant_ms, const std::string& trigger, Step& step, bool launch = true);
  // By value: callers pass fields of the run, which this moves away.
  void FinishRun(JobState& js, std::string run_id, RunStatus status, std::string reason, absl::Time now, Step& step,
                 bool missed = false);
  void StopRunLocked(JobState& js, Run& run, const std::string& reason, absl::Time now, Step& step);
  void Enqueue(const std::string& job_id, const std::string& run_id);
  void WantOffers();
  void HandleOffers(const std::vector<v1::Offer>& offers);
  void Launch(Cluster* cluster, const v1::OfferID& offer, const std::vector<v1::TaskInfo>& infos);
  void DrainUpdates();
  void HandleUpdate(const v1::TaskStatus& status, absl::Time now, Step& step);
  void Reconcile();
  void RecordLateness(double seconds);
  JobState* Find(const std::string& id);
  v1::TaskInfo BuildTaskInfo(const Job& job, const Run& run, const RunTask& task, const v1::Offer& offer,
                             const std::vector<v1::Resource>& resources) const;
  void IndexChildren();  // from scratch (Load)
  void Reparent(const std::string& job_id, const std::vector<std::string>& before,
                const std::vector<std::string>& after);
  int64_t FreeInstant(const JobState& js, int64_t ms) const;

  std::unique_ptr<Store> store_;
  ServiceOptions options_;
  Clock* clock_;
  Cluster* cluster_ = nullptr;
  std::optional<std::string> stored_framework_id_;
  ServiceState state_;
  // When each job needs planning next (Unix ms), both ways.
  std::multimap<int64_t, std::string> wakes_;
  std::map<std::string, int64_t> wake_of_;
  EventLoop::TimerId timer_ = 0;
  int64_t timer_at_ = kNever;
  // Runs waiting for an offer, as (job, run), in order; `queued_` dedupes.
  // Run IDs are unique within a job only (Metronome's), so both go in.
  std::deque<std::pair<std::string, std::string>> queue_;
  std::set<std::pair<std::string, std::string>> queued_;
  std::map<std::string, std::pair<std::string, std::string>> task_index_;  // task ID -> (job, run)
  bool offers_wanted_ = true;                                              // the driver subscribes unsuppressed
  EventLoop::TimerId reconcile_timer_ = 0;
  double last_commit_ms_ = 0;  // for the debug log
  Step unstored_;              // what a failed commit could not write: it goes with the next one
  EventLoop::TimerId retry_timer_ = 0;
  std::mutex updates_mu_;
  std::vector<v1::TaskStatus> updates_;  // guarded by updates_mu_
  bool drain_posted_ = false;            // guarded by updates_mu_
  EventLoop loop_;                       // stops (and joins) before the state goes
};

}  // namespace corral::batch
