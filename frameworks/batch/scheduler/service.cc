#include "scheduler/service.h"

#include <re2/re2.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "corral/common/logging.h"
#include "corral/framework/offer_space.h"

namespace corral::batch {
namespace {

constexpr double kIdleRefuseSeconds = 5;  // offers declined while nothing waits
constexpr double kBusyRefuseSeconds = 1;  // ...and while runs wait that this offer cannot take
constexpr size_t kLatenessSamples = 10000;

using framework::AttributeText;
using framework::OfferSpace;

bool Satisfies(const Job& job, const v1::Offer& offer) {
  for (const auto& c : job.constraints) {
    std::string value;
    bool found = false;
    if (c.attribute == "hostname") {
      value = offer.hostname();
      found = true;
    } else {
      for (const auto& a : offer.attributes()) {
        if (a.name() == c.attribute) {
          value = AttributeText(a);
          found = true;
        }
      }
    }
    if (c.op == "EQ" && (!found || value != c.value)) return false;
    if (c.op == "LIKE" && (!found || !RE2::FullMatch(value, RE2(c.value)))) return false;
    if (c.op == "UNLIKE" && found && RE2::FullMatch(value, RE2(c.value))) return false;
  }
  return true;
}

std::optional<int> ExitCode(const std::string& state, const std::string& message) {
  if (state == "TASK_FINISHED") return 0;
  constexpr absl::string_view kPrefix = "Command exited with status ";
  int code;
  if (absl::StartsWith(message, kPrefix) && absl::SimpleAtoi(message.substr(kPrefix.size()), &code)) return code;
  return std::nullopt;
}

}  // namespace

Service::Service(std::unique_ptr<Store> store, ServiceOptions options, Clock* clock)
    : store_(std::move(store)), options_(std::move(options)), clock_(clock), loop_("batch", clock) {}

Service::~Service() { Stop(); }

void Service::Stop() { loop_.Stop(); }

JobState* Service::Find(const std::string& id) {
  auto it = state_.jobs.find(id);
  return it == state_.jobs.end() ? nullptr : &it->second;
}

void Service::IndexChildren() {
  state_.children.clear();
  for (const auto& [id, js] : state_.jobs) {
    for (const auto& p : js.job.parents) state_.children[p].push_back(id);
  }
}

void Service::Reparent(const std::string& job_id, const std::vector<std::string>& before,
                       const std::vector<std::string>& after) {
  for (const auto& p : before) {
    auto it = state_.children.find(p);
    if (it == state_.children.end()) continue;
    it->second.erase(std::remove(it->second.begin(), it->second.end(), job_id), it->second.end());
    if (it->second.empty()) state_.children.erase(it);
  }
  for (const auto& p : after) state_.children[p].push_back(job_id);
}

absl::Status Service::Load() {
  auto st = store_->Load();
  if (!st.ok()) return st.status();
  stored_framework_id_ = st->framework_id;
  if (st->framework_id) state_.framework_id = *st->framework_id;
  const int64_t now_ms = ToMs(clock_->Now());
  for (auto& job : st->jobs) {
    JobState& js = state_.jobs[job.id];
    for (auto& s : job.schedules) {
      if (s.cursor_ms == 0) s.cursor_ms = now_ms;
    }
    js.job = std::move(job);
    if (auto it = st->stats.find(js.job.id); it != st->stats.end()) js.stats = it->second;
  }
  for (auto& run : st->runs) {
    JobState* js = Find(run.job_id);
    if (js == nullptr) continue;
    // A scheduled run stands for its instant: the cursor is at least there
    // (runs are written when they start, the cursor only when it must be).
    for (auto& s : js->job.schedules) {
      if (run.trigger == "schedule:" + s.id) s.cursor_ms = std::max(s.cursor_ms, run.instant_ms);
    }
    js->instants[run.instant_ms] = run.id;
    if (IsFinished(run.status)) {
      js->history.push_back(std::move(run));
      continue;
    }
    for (const auto& t : run.tasks) {
      if (!IsTerminalTaskState(t.state)) task_index_[t.id] = {run.job_id, run.id};
    }
    std::string id = run.id;
    js->active.emplace(id, std::move(run));
  }
  IndexChildren();
  for (auto& [id, js] : state_.jobs) {
    for (auto& [rid, run] : js.active) {
      if (run.live() == nullptr && !run.stopping) Enqueue(id, rid);
    }
    SetWake(id, now_ms);
  }
  loop_.Post([this] {
    // Stopped runs that lost their task while batch was away end now.
    Step step;
    absl::Time now = clock_->Now();
    for (auto& [id, js] : state_.jobs) {
      std::vector<std::string> done;
      for (auto& [rid, run] : js.active) {
        if (run.stopping && run.live() == nullptr) done.push_back(rid);
      }
      for (const auto& rid : done) FinishRun(js, rid, RunStatus::kFailed, js.active[rid].reason, now, step);
    }
    (void)Commit(step);
    ArmTimer();
  });
  return absl::OkStatus();
}

void Service::SetCluster(Cluster* cluster) {
  loop_.Call([this, cluster] { cluster_ = cluster; });
}

void Service::Launch(Cluster* cluster, const v1::OfferID& offer, const std::vector<v1::TaskInfo>& infos) {
  absl::Status s = cluster ? cluster->Launch(offer, infos) : absl::UnavailableError("no cluster");
  if (s.ok()) {
    state_.metrics.tasks_launched += static_cast<int64_t>(infos.size());
    return;
  }
  CORRAL_LOG(WARNING) << "batch: launch failed: " << s;
  // As if the master had dropped them: the updates' path launches again.
  for (const auto& info : infos) {
    v1::TaskStatus st;
    *st.mutable_task_id() = info.task_id();
    st.set_state(v1::TASK_DROPPED);
    st.set_reason(v1::TaskStatus::REASON_RECONCILIATION);
    st.set_message(std::string(s.message()));
    Update(st);
  }
}

// --- steps ---

void Service::Step::Merge(Step&& o) {
  jobs.merge(o.jobs);
  deleted_jobs.merge(o.deleted_jobs);
  stats.merge(o.stats);
  schedules.merge(o.schedules);
  deleted_schedules.merge(o.deleted_schedules);
  runs.merge(o.runs);
  deleted_runs.insert(deleted_runs.end(), o.deleted_runs.begin(), o.deleted_runs.end());
  for (auto& fn : o.after) after.push_back(std::move(fn));
}

bool Service::Step::empty() const {
  return jobs.empty() && deleted_jobs.empty() && stats.empty() && schedules.empty() && deleted_schedules.empty() &&
         runs.empty() && deleted_runs.empty() && after.empty();
}

absl::Status Service::Commit(Step& step) {
  if (!unstored_.empty()) {
    // What an earlier commit could not write goes first: the rows are
    // written as they are now, so writing them late is writing them right.
    Step earlier = std::move(unstored_);
    unstored_ = Step();
    earlier.Merge(std::move(step));
    step = std::move(earlier);
  }
  StoreBatch b;
  for (const auto& id : step.deleted_jobs) b.delete_jobs.push_back(id);
  for (const auto& id : step.jobs) {
    if (const JobState* js = Find(id)) b.put_jobs.push_back(&js->job);
  }
  for (const auto& [job, sid] : step.deleted_schedules) b.delete_schedules.emplace_back(job, sid);
  for (const auto& [job, sid] : step.schedules) {
    const JobState* js = Find(job);
    if (js == nullptr) continue;
    for (const auto& s : js->job.schedules) {
      if (s.id == sid) b.put_schedules.emplace_back(job, &s);
    }
  }
  b.delete_runs = step.deleted_runs;
  std::set<std::pair<std::string, std::string>> deleted(step.deleted_runs.begin(), step.deleted_runs.end());
  for (const auto& [job, rid] : step.runs) {
    const JobState* js = Find(job);
    if (js == nullptr || deleted.count({job, rid})) continue;
    if (auto it = js->active.find(rid); it != js->active.end()) {
      b.put_runs.push_back(&it->second);
      continue;
    }
    for (auto it = js->history.rbegin(); it != js->history.rend(); ++it) {
      if (it->id == rid) {
        b.put_runs.push_back(&*it);
        break;
      }
    }
  }
  for (const auto& id : step.stats) {
    if (const JobState* js = Find(id)) b.put_stats.emplace_back(id, &js->stats);
  }
  const absl::Time t0 = absl::Now();
  absl::Status s = store_->Commit(b);
  last_commit_ms_ = absl::ToDoubleMilliseconds(absl::Now() - t0);
  if (!s.ok()) {
    // Nothing the step holds back (launches, acknowledgements, kills) goes
    // out until it is written; it is tried again with the next commit, and
    // in a second if none comes.
    CORRAL_LOG(ERROR) << "batch: " << s << "; trying again";
    unstored_ = std::move(step);
    step = Step();
    if (retry_timer_ == 0) {
      retry_timer_ = loop_.PostAfter(absl::Seconds(1), [this] {
        retry_timer_ = 0;
        Step none;
        if (Commit(none).ok()) {
          WantOffers();
          ArmTimer();
        }
      });
    }
    return s;
  }
  for (auto& fn : step.after) fn();
  step = Step();
  return absl::OkStatus();
}

void Service::SetWake(const std::string& job_id, int64_t ms) {
  auto it = wake_of_.find(job_id);
  if (it != wake_of_.end()) {
    if (it->second <= ms) return;  // already planned sooner
    auto range = wakes_.equal_range(it->second);
    for (auto w = range.first; w != range.second; ++w) {
      if (w->second == job_id) {
        wakes_.erase(w);
        break;
      }
    }
  }
  if (ms == kNever) {
    wake_of_.erase(job_id);
    return;
  }
  wake_of_[job_id] = ms;
  wakes_.emplace(ms, job_id);
}

void Service::ArmTimer() {
  if (wakes_.empty()) return;
  int64_t at = wakes_.begin()->first;
  if (timer_ != 0 && timer_at_ <= at) return;
  if (timer_ != 0) loop_.Cancel(timer_);
  timer_at_ = at;
  int64_t delay = at - ToMs(clock_->Now());
  timer_ = loop_.PostAfter(absl::Milliseconds(std::max<int64_t>(0, delay)), [this] {
    timer_ = 0;
    timer_at_ = kNever;
    Tick();
  });
}

void Service::Tick() {
  absl::Time now = clock_->Now();
  const int64_t now_ms = ToMs(now);
  const absl::Time t0 = absl::Now();
  Step step;
  size_t planned = 0;
  while (!wakes_.empty() && wakes_.begin()->first <= now_ms) {
    std::string id = wakes_.begin()->second;
    wakes_.erase(wakes_.begin());
    wake_of_.erase(id);
    if (JobState* js = Find(id)) PlanOne(*js, now, step);
    ++planned;
  }
  const size_t writes = step.runs.size();
  const absl::Time t1 = absl::Now();
  (void)Commit(step);
  WantOffers();
  ArmTimer();
  if (planned > 0) {
    CORRAL_LOG(DEBUG) << "batch: planned " << planned << " jobs in " << absl::ToDoubleMilliseconds(t1 - t0)
                      << " ms, wrote " << writes << " runs in " << absl::ToDoubleMilliseconds(absl::Now() - t1)
                      << " ms";
  }
}

void Service::PlanOne(JobState& js, absl::Time now, Step& step) {
  JobPlan p = PlanJob(js, now);
  for (const auto& [sid, cursor] : p.cursors) {
    for (auto& s : js.job.schedules) {
      if (s.id == sid) s.cursor_ms = cursor;
    }
  }
  // A new scheduled run's row, written with its first task, stands for its
  // instant; the cursor is written itself when an instant starts no run.
  bool cursor_stored = false;
  for (const auto& m : p.missed) {
    ++js.stats.missed_count;
    ++state_.metrics.instants_missed;
    step.stats.insert(js.job.id);
    CORRAL_LOG(DEBUG) << "batch: job " << js.job.id << " missed " << Timestamp(FromMs(m.instant_ms)) << ": "
                      << m.reason;
    cursor_stored = true;
  }
  for (const auto& [sid, cursor] : p.cursors) {
    // Written when no new run carries it: missed and skipped instants.
    if (cursor_stored) step.schedules.insert({js.job.id, sid});
  }
  for (const auto& [rid, reason] : p.kill) {
    auto it = js.active.find(rid);
    if (it != js.active.end()) StopRunLocked(js, it->second, reason, now, step);
  }
  for (const auto& [rid, reason] : p.expire) {
    if (js.active.count(rid)) FinishRun(js, rid, RunStatus::kFailed, reason, now, step, /*missed=*/true);
  }
  for (const auto& [sid, instant] : p.start) {
    if (auto taken = js.instants.find(instant); taken != js.instants.end()) {
      // Another run (a second schedule firing at the same time) already
      // stands for this instant: the DAG knows one run per job and instant.
      CORRAL_LOG(DEBUG) << "batch: job " << js.job.id << ": schedule " << sid << " at " << Timestamp(FromMs(instant))
                        << " is run " << taken->second;
      step.schedules.insert({js.job.id, sid});
      continue;
    }
    Run& run = CreateRun(js, instant, "schedule:" + sid, step);
    // With the cursor written past it, the run must be written now too, or
    // a crash before its launch would lose the instant.
    if (cursor_stored) step.runs.insert({js.job.id, run.id});
  }
  for (const auto& rid : p.launch) Enqueue(js.job.id, rid);
  SetWake(js.job.id, p.wake_ms);
}

int64_t Service::FreeInstant(const JobState& js, int64_t ms) const {
  // Off the whole second, where scheduled instants fall, and off the
  // instants other runs of the job stand for.
  while (ms % 1000 == 0 || js.instants.count(ms)) ++ms;
  return ms;
}

Run& Service::CreateRun(JobState& js, int64_t instant_ms, const std::string& trigger, Step& step, bool launch) {
  absl::Time now = clock_->Now();
  Run r;
  do { r.id = NewRunId(now); } while (js.active.count(r.id));
  r.job_id = js.job.id;
  r.instant_ms = instant_ms;
  r.trigger = trigger;
  r.created_at = Timestamp(now);
  std::string id = r.id;
  Run& run = js.active.emplace(id, std::move(r)).first->second;
  js.instants[instant_ms] = id;
  // A scheduled run is written with its first task, in one transaction:
  // until then a restart starts its instant again (it never ran), and the
  // trigger of thousands of runs at one instant costs no write. Manual and
  // dependent runs are written at once: a caller was told of them, or a
  // parent's success made them.
  if (trigger.rfind("schedule:", 0) != 0) step.runs.insert({js.job.id, id});
  ++state_.metrics.runs_started;
  if (launch) Enqueue(js.job.id, id);
  return run;
}

void Service::FinishRun(JobState& js, std::string run_id, RunStatus status, std::string reason, absl::Time now,
                        Step& step, bool missed) {
  auto it = js.active.find(run_id);
  if (it == js.active.end()) return;
  Run run = std::move(it->second);
  js.active.erase(it);
  for (const auto& t : run.tasks) task_index_.erase(t.id);
  queued_.erase({js.job.id, run_id});
  run.status = status;
  run.completed_at = Timestamp(now);
  if (!reason.empty()) run.reason = reason;
  run.stopping = false;
  std::string at = IsoTimestamp(now);
  if (status == RunStatus::kSuccess) {
    ++js.stats.success_count;
    js.stats.last_success_at = at;
    js.stats.errors_since_last_success = 0;
    ++state_.metrics.runs_succeeded;
  } else if (missed) {
    ++js.stats.missed_count;
    ++state_.metrics.instants_missed;
  } else {
    ++js.stats.failure_count;
    ++js.stats.errors_since_last_success;
    js.stats.last_failure_at = at;
    ++state_.metrics.runs_failed;
  }
  step.stats.insert(js.job.id);
  step.runs.insert({js.job.id, run_id});
  const int64_t instant = run.instant_ms;
  js.history.push_back(std::move(run));
  while (js.history.size() > static_cast<size_t>(js.job.history_limit)) {
    const Run& old = js.history.front();
    auto inst = js.instants.find(old.instant_ms);
    if (inst != js.instants.end() && inst->second == old.id) js.instants.erase(inst);
    step.deleted_runs.emplace_back(js.job.id, old.id);
    js.history.pop_front();
  }
  if (status == RunStatus::kSuccess) {
    auto job_of = [this](const std::string& id) -> const Job* {
      const JobState* j = Find(id);
      return j ? &j->job : nullptr;
    };
    auto status_at = [this](const std::string& id, int64_t ms) -> std::optional<RunStatus> {
      const JobState* j = Find(id);
      if (j == nullptr) return std::nullopt;
      auto i = j->instants.find(ms);
      if (i == j->instants.end()) return std::nullopt;
      if (auto a = j->active.find(i->second); a != j->active.end()) return a->second.status;
      for (auto h = j->history.rbegin(); h != j->history.rend(); ++h) {
        if (h->id == i->second) return h->status;
      }
      return std::nullopt;
    };
    for (const auto& child : ChildrenDue(js.job.id, instant, state_.children, job_of, status_at)) {
      if (JobState* c = Find(child)) {
        CreateRun(*c, instant, "dependency", step);
        SetWake(child, ToMs(now));
      }
    }
  }
  SetWake(js.job.id, ToMs(now));  // FORBID may let the next instant start
}

void Service::StopRunLocked(JobState& js, Run& run, const std::string& reason, absl::Time now, Step& step) {
  if (run.stopping) return;
  run.stopping = true;
  run.reason = reason;
  if (const RunTask* t = run.live()) {
    step.runs.insert({js.job.id, run.id});
    std::string task = t->id, agent = t->agent_id;
    double grace = js.job.task_kill_grace_period_seconds;
    step.after.push_back([this, task, agent, grace] {
      if (cluster_ != nullptr) cluster_->Kill(task, agent, grace);
    });
  } else {
    FinishRun(js, run.id, RunStatus::kFailed, reason, now, step);
  }
}

// --- offers ---

void Service::Enqueue(const std::string& job_id, const std::string& run_id) {
  if (queued_.insert({job_id, run_id}).second) queue_.emplace_back(job_id, run_id);
}

void Service::WantOffers() {
  if (cluster_ == nullptr || !state_.subscribed) return;
  if (!queue_.empty() && !offers_wanted_) {
    offers_wanted_ = true;
    cluster_->Revive();
  }
}

v1::TaskInfo Service::BuildTaskInfo(const Job& job, const Run& run, const RunTask& task, const v1::Offer& offer,
                                    const std::vector<v1::Resource>& resources) const {
  v1::TaskInfo info;
  info.set_name(job.id);
  info.mutable_task_id()->set_value(task.id);
  *info.mutable_agent_id() = offer.agent_id();
  for (const auto& r : resources) *info.add_resources() = r;
  auto* cmd = info.mutable_command();
  const std::vector<std::string>& args = run.args ? *run.args : job.args;
  if (!job.cmd.empty()) {
    cmd->set_shell(true);
    cmd->set_value(run.args && !run.args->empty() ? job.cmd + " " + absl::StrJoin(*run.args, " ") : job.cmd);
  } else {
    cmd->set_shell(false);
    cmd->set_value(args.empty() ? "" : args.front());
    for (const auto& a : args) cmd->add_arguments(a);
  }
  if (!job.user.empty()) cmd->set_user(job.user);
  for (const auto& uri : job.uris) cmd->add_uris()->set_value(uri);
  auto* env = cmd->mutable_environment();
  auto var = [env](const std::string& name, const std::string& value) {
    auto* e = env->add_variables();
    e->set_name(name);
    e->set_value(value);
  };
  // batch's own variables win over the job's, the run's over the job's.
  auto own = [](const std::string& k) {
    return absl::StartsWith(k, "BATCH_") || k == "CHRONOS_JOB_NAME" || k == "CHRONOS_JOB_OWNER" ||
           k == "MESOS_TASK_ID" || k == "HOST";
  };
  for (const auto& [k, v] : job.env) {
    if (!own(k) && !run.env.count(k)) var(k, v);
  }
  for (const auto& [k, v] : run.env) {
    if (!own(k)) var(k, v);
  }
  var("BATCH_JOB_ID", job.id);
  var("BATCH_RUN_ID", run.id);
  var("BATCH_SCHEDULED_AT", IsoTimestamp(FromMs(run.instant_ms)));
  var("BATCH_ATTEMPT", absl::StrCat(run.attempts));
  var("CHRONOS_JOB_NAME", job.id);
  var("CHRONOS_JOB_OWNER", job.owner);
  var("MESOS_TASK_ID", task.id);
  var("HOST", offer.hostname());
  for (const auto& [k, v] : job.labels) {
    auto* l = info.mutable_labels()->add_labels();
    l->set_key(k);
    l->set_value(v);
  }
  if (job.task_kill_grace_period_seconds > 0) {
    info.mutable_kill_policy()->mutable_grace_period()->set_nanoseconds(
        static_cast<int64_t>(job.task_kill_grace_period_seconds * 1e9));
  }
  return info;
}

void Service::HandleOffers(const std::vector<v1::Offer>& offers) {
  if (cluster_ == nullptr) return;
  absl::Time now = clock_->Now();
  const absl::Time t0 = absl::Now();
  Step step;
  std::vector<v1::OfferID> unused;
  for (const auto& offer : offers) {
    OfferSpace space(offer);
    std::vector<v1::TaskInfo> infos;
    for (auto it = queue_.begin(); it != queue_.end();) {
      JobState* js = Find(it->first);
      auto run_it = js ? js->active.find(it->second) : decltype(js->active.end()){};
      if (js == nullptr || run_it == js->active.end() || run_it->second.stopping || run_it->second.live()) {
        queued_.erase(*it);
        it = queue_.erase(it);
        continue;
      }
      const Job& job = js->job;
      Run& run = run_it->second;
      if (!space.Fits(job.cpus, job.mem, job.disk, job.gpus) || !Satisfies(job, offer)) {
        ++it;
        continue;
      }
      std::vector<v1::Resource> res = space.Resources(job.cpus, job.mem, job.disk, job.gpus, {});
      space.Take(job.cpus, job.mem, job.disk, job.gpus);
      ++run.attempts;
      RunTask t;
      t.id = absl::StrCat(job.id, "_", run.id, ".", run.attempts);
      t.agent_id = offer.agent_id().value();
      run.tasks.push_back(t);
      if (run.first_launch_ms == 0) {
        run.first_launch_ms = ToMs(now);
        if (job.active_deadline_seconds > 0) {
          SetWake(job.id, run.first_launch_ms + static_cast<int64_t>(job.active_deadline_seconds * 1000));
        }
      }
      if (run.status == RunStatus::kInitial) run.status = RunStatus::kStarting;
      task_index_[t.id] = {job.id, run.id};
      infos.push_back(BuildTaskInfo(job, run, t, offer, res));
      step.runs.insert({job.id, run.id});
      queued_.erase(*it);
      it = queue_.erase(it);
    }
    if (infos.empty()) {
      unused.push_back(offer.id());
      continue;
    }
    // Written before the launch: a crash in between leaves a task the
    // master does not know, which reconciliation reports and the run
    // launches again. The other order could run a task nobody tracks.
    // All offers' tasks in one transaction, then the launches. They wait
    // for the master on this loop: updates and acknowledgements wait
    // meanwhile rather than compete with them (from a thread of its own,
    // they made the last launches of a busy minute later, not sooner).
    v1::OfferID offer_id = offer.id();
    step.after.push_back([this, offer_id, infos = std::move(infos)] { Launch(cluster_, offer_id, infos); });
  }
  const size_t fitted = step.runs.size();
  const absl::Time t1 = absl::Now();
  (void)Commit(step);
  if (fitted > 0) {
    CORRAL_LOG(DEBUG) << "batch: fitted " << fitted << " runs into " << offers.size() << " offers in "
                      << absl::ToDoubleMilliseconds(t1 - t0) << " ms, stored them in " << last_commit_ms_
                      << " ms, launched them in " << absl::ToDoubleMilliseconds(absl::Now() - t1) - last_commit_ms_
                      << " ms";
  }
  if (!unused.empty()) cluster_->Decline(unused, queue_.empty() ? kIdleRefuseSeconds : kBusyRefuseSeconds);
  if (queue_.empty() && offers_wanted_) {
    offers_wanted_ = false;
    cluster_->Suppress();
  }
  ArmTimer();
}

// --- updates ---

void Service::Update(v1::TaskStatus status) {
  std::lock_guard<std::mutex> lock(updates_mu_);
  updates_.push_back(std::move(status));
  if (drain_posted_) return;
  drain_posted_ = true;
  loop_.Post([this] { DrainUpdates(); });
}

void Service::DrainUpdates() {
  std::vector<v1::TaskStatus> batch;
  {
    std::lock_guard<std::mutex> lock(updates_mu_);
    batch.swap(updates_);
    drain_posted_ = false;
  }
  absl::Time now = clock_->Now();
  const absl::Time t0 = absl::Now();
  Step step;
  for (const auto& s : batch) HandleUpdate(s, now, step);
  // Acknowledged once stored (the agent sends them again until then).
  step.after.push_back([this, batch = std::move(batch)] {
    if (cluster_ == nullptr) return;
    for (const auto& s : batch) {
      if (!s.uuid().empty()) cluster_->Acknowledge(s);
    }
  });
  const absl::Time t1 = absl::Now();
  const size_t n = step.runs.size();
  if (!Commit(step).ok()) return;
  CORRAL_LOG(DEBUG) << "batch: updates of " << n << " runs applied in " << absl::ToDoubleMilliseconds(t1 - t0)
                    << " ms, stored in " << last_commit_ms_ << " ms and acknowledged in "
                    << absl::ToDoubleMilliseconds(absl::Now() - t1) - last_commit_ms_ << " ms";
  WantOffers();
  ArmTimer();
}

void Service::HandleUpdate(const v1::TaskStatus& status, absl::Time now, Step& step) {
  const std::string& id = status.task_id().value();
  const std::string state = v1::TaskState_Name(status.state());
  auto idx = task_index_.find(id);
  JobState* js = idx == task_index_.end() ? nullptr : Find(idx->second.first);
  auto run_it = js ? js->active.find(idx->second.second) : decltype(js->active.end()){};
  if (js == nullptr || run_it == js->active.end()) {
    // A task nothing here tracks (its job or run is gone): it must not run.
    if (!IsTerminalTaskState(state) && cluster_ != nullptr) {
      std::string agent = status.agent_id().value();
      step.after.push_back([this, id, agent] {
        if (cluster_) cluster_->Kill(id, agent, 0);
      });
    }
    return;
  }
  Run& run = run_it->second;
  RunTask* task = nullptr;
  for (auto& t : run.tasks) {
    if (t.id == id) task = &t;
  }
  if (task == nullptr || IsTerminalTaskState(task->state)) return;
  if (task->state == state && !IsTerminalTaskState(state)) return;
  task->state = state;
  if (task->agent_id.empty()) task->agent_id = status.agent_id().value();
  step.runs.insert({js->job.id, run.id});
  const int64_t now_ms = ToMs(now);
  if (state == "TASK_RUNNING") {
    if (task->started_at.empty()) task->started_at = Timestamp(now);
    if (run.first_running_ms == 0) {
      // When the agent saw it running (its clock), not when the update got
      // here through a busy loop; now, for an update without a time.
      run.first_running_ms = status.timestamp() > 0 ? static_cast<int64_t>(status.timestamp() * 1000) : now_ms;
      if (run.trigger != "manual") {
        RecordLateness(static_cast<double>(run.first_running_ms - run.instant_ms) / 1000.0);
      }
    }
    run.started = true;
    if (!run.stopping) run.status = RunStatus::kActive;
    return;
  }
  if (!IsTerminalTaskState(state)) return;
  task->completed_at = Timestamp(now);
  task->exit_code = ExitCode(state, status.message());
  task->message = status.message();
  task_index_.erase(id);
  bool never_ran = task->started_at.empty() && status.reason() == v1::TaskStatus::REASON_RECONCILIATION &&
                   (state == "TASK_LOST" || state == "TASK_UNKNOWN" || state == "TASK_DROPPED" || state == "TASK_GONE");
  if (never_ran && !run.stopping) {
    // The master never had it (a crash between store and launch, or a
    // refused launch): it did not run, so this is not an attempt.
    --run.attempts;
    run.next_attempt_ms = 0;
    Enqueue(js->job.id, run.id);
    return;
  }
  TaskEnd end = OnTaskEnd(js->job, run, state, status.message(), now);
  switch (end.kind) {
    case TaskEnd::kSucceeded: FinishRun(*js, run.id, RunStatus::kSuccess, "", now, step); break;
    case TaskEnd::kFailed: FinishRun(*js, run.id, RunStatus::kFailed, end.reason, now, step); break;
    case TaskEnd::kRetry:
      ++state_.metrics.task_retries;
      run.reason = end.reason;
      run.next_attempt_ms = end.retry_at_ms;
      SetWake(js->job.id, end.retry_at_ms);
      break;
  }
}

void Service::RecordLateness(double seconds) {
  Metrics& m = state_.metrics;
  if (m.lateness.size() < kLatenessSamples) {
    m.lateness.push_back(seconds);
  } else {
    m.lateness[m.lateness_next] = seconds;
    m.lateness_next = (m.lateness_next + 1) % kLatenessSamples;
  }
  m.lateness_sum += seconds;
  ++m.lateness_count;
}

// --- the SDK ---

void Service::Subscribed(const std::string& framework_id) {
  loop_.Post([this, framework_id] {
    state_.subscribed = true;
    if (state_.framework_id != framework_id) {
      state_.framework_id = framework_id;
      if (auto s = store_->SetFrameworkId(framework_id); !s.ok()) {
        CORRAL_LOG(ERROR) << "batch: cannot store the framework ID: " << s;
      }
    }
    offers_wanted_ = true;  // a new subscription is not suppressed
    Reconcile();
    Tick();
  });
}

void Service::Disconnected() {
  loop_.Post([this] { state_.subscribed = false; });
}

void Service::Offers(std::vector<v1::Offer> offers) {
  loop_.Post([this, offers = std::move(offers)] { HandleOffers(offers); });
}

void Service::Reconcile() {
  if (cluster_ == nullptr) return;
  std::vector<std::pair<std::string, std::string>> known;
  for (const auto& [tid, where] : task_index_) {
    const JobState* js = Find(where.first);
    if (js == nullptr) continue;
    auto r = js->active.find(where.second);
    if (r == js->active.end()) continue;
    for (const auto& t : r->second.tasks) {
      if (t.id != tid) continue;
      known.emplace_back(tid, t.agent_id);
      // Kills are not acknowledged: again, until the task is gone.
      if (r->second.stopping) cluster_->Kill(tid, t.agent_id, js->job.task_kill_grace_period_seconds);
    }
  }
  if (!known.empty()) cluster_->Reconcile(known);
  cluster_->Reconcile({});  // and what the master has that the store does not
  loop_.Cancel(reconcile_timer_);
  reconcile_timer_ = loop_.PostAfter(absl::Seconds(options_.reconciliation_interval), [this] {
    reconcile_timer_ = 0;
    if (state_.subscribed) Reconcile();
  });
}

// --- the API ---

absl::Status Service::StoreFailed(const absl::Status& s) {
  return absl::UnavailableError("the store failed (" + std::string(s.message()) +
                                "); the change is made, and is written once the store works again");
}

absl::Status Service::CreateJob(Job job) {
  return loop_.Call([&]() -> absl::Status {
    if (Find(job.id) != nullptr) return absl::AlreadyExistsError("Job with this id already exists");
    if (auto err = CheckParents(job, [this](const std::string& id) {
          const JobState* js = Find(id);
          return js ? &js->job : nullptr;
        })) {
      return absl::InvalidArgumentError(*err);
    }
    absl::Time now = clock_->Now();
    job.created_at = Timestamp(now);
    for (auto& s : job.schedules) s.cursor_ms = ToMs(now);
    std::string id = job.id;
    Step step;
    JobState& js = state_.jobs[id];
    js.job = std::move(job);
    step.jobs.insert(id);
    for (const auto& s : js.job.schedules) step.schedules.insert({id, s.id});
    step.stats.insert(id);
    if (auto s = Commit(step); !s.ok()) {
      state_.jobs.erase(id);
      return absl::UnavailableError("the store failed: " + std::string(s.message()));
    }
    Reparent(id, {}, js.job.parents);
    SetWake(id, ToMs(now));
    ArmTimer();
    return absl::OkStatus();
  });
}

absl::Status Service::UpdateJob(Job job, bool keep_schedules, bool create) {
  return loop_.Call([&]() -> absl::Status {
    JobState* js = Find(job.id);
    if (js == nullptr && !create) return absl::NotFoundError("Job not found");
    if (auto err = CheckParents(job, [this, &job](const std::string& id) -> const Job* {
          const JobState* other = id == job.id ? nullptr : Find(id);
          return other ? &other->job : nullptr;
        })) {
      return absl::InvalidArgumentError(*err);
    }
    absl::Time now = clock_->Now();
    std::string id = job.id;
    Step step;
    if (js == nullptr) {
      js = &state_.jobs[id];
      job.created_at = Timestamp(now);
      step.stats.insert(id);
    } else {
      job.created_at = js->job.created_at;
    }
    if (keep_schedules) {
      job.schedules = js->job.schedules;
    } else {
      for (auto& s : job.schedules) {
        s.cursor_ms = ToMs(now);
        for (const auto& old : js->job.schedules) {
          // The same schedule keeps its place: no instant runs twice.
          if (old.id == s.id && old.expression == s.expression && old.time_zone == s.time_zone) {
            s.cursor_ms = old.cursor_ms;
          }
        }
        step.schedules.insert({id, s.id});
      }
      for (const auto& old : js->job.schedules) {
        if (std::none_of(job.schedules.begin(), job.schedules.end(),
                         [&](const Schedule& s) { return s.id == old.id; })) {
          step.deleted_schedules.insert({id, old.id});
        }
      }
    }
    std::vector<std::string> before = js->job.parents;
    js->job = std::move(job);
    step.jobs.insert(id);
    Reparent(id, before, js->job.parents);
    if (auto s = Commit(step); !s.ok()) return StoreFailed(s);
    SetWake(id, ToMs(now));
    ArmTimer();
    return absl::OkStatus();
  });
}

absl::Status Service::DeleteJob(const std::string& id, bool stop_runs) {
  return loop_.Call([&]() -> absl::Status {
    JobState* js = Find(id);
    if (js == nullptr) return absl::NotFoundError("Job not found");
    if (auto c = state_.children.find(id); c != state_.children.end() && !c->second.empty()) {
      return absl::FailedPreconditionError("job " + id + " is a parent of " + absl::StrJoin(c->second, ", ") +
                                           "; delete or change those first");
    }
    if (!js->active.empty() && !stop_runs) {
      return absl::FailedPreconditionError("There are active job runs. Override with stopCurrentJobRuns=true");
    }
    Step step;
    for (auto& [rid, run] : js->active) {
      for (const auto& t : run.tasks) {
        task_index_.erase(t.id);
        if (!IsTerminalTaskState(t.state)) {
          std::string task = t.id, agent = t.agent_id;
          step.after.push_back([this, task, agent] {
            if (cluster_) cluster_->Kill(task, agent, 0);
          });
        }
      }
      queued_.erase({id, rid});
    }
    step.deleted_jobs.insert(id);
    Reparent(id, js->job.parents, {});
    state_.jobs.erase(id);
    SetWake(id, kNever);
    if (auto s = Commit(step); !s.ok()) return StoreFailed(s);
    return absl::OkStatus();
  });
}

absl::Status Service::PutSchedule(const std::string& job_id, Schedule schedule, bool create) {
  return loop_.Call([&]() -> absl::Status {
    JobState* js = Find(job_id);
    if (js == nullptr) return absl::NotFoundError("Job not found");
    auto it = std::find_if(js->job.schedules.begin(), js->job.schedules.end(),
                           [&](const Schedule& s) { return s.id == schedule.id; });
    if (create && it != js->job.schedules.end())
      return absl::AlreadyExistsError("Schedule with this id already exists");
    if (!create && it == js->job.schedules.end()) return absl::NotFoundError("Schedule not found");
    int64_t now_ms = ToMs(clock_->Now());
    schedule.cursor_ms = now_ms;
    if (it != js->job.schedules.end()) {
      if (it->expression == schedule.expression && it->time_zone == schedule.time_zone) {
        schedule.cursor_ms = it->cursor_ms;
      }
      *it = std::move(schedule);
    } else {
      js->job.schedules.push_back(std::move(schedule));
      it = js->job.schedules.end() - 1;
    }
    Step step;
    step.schedules.insert({job_id, it->id});
    if (auto s = Commit(step); !s.ok()) return StoreFailed(s);
    SetWake(job_id, now_ms);
    ArmTimer();
    return absl::OkStatus();
  });
}

absl::Status Service::DeleteSchedule(const std::string& job_id, const std::string& schedule_id) {
  return loop_.Call([&]() -> absl::Status {
    JobState* js = Find(job_id);
    if (js == nullptr) return absl::NotFoundError("Job not found");
    auto it = std::find_if(js->job.schedules.begin(), js->job.schedules.end(),
                           [&](const Schedule& s) { return s.id == schedule_id; });
    if (it == js->job.schedules.end()) return absl::NotFoundError("Schedule not found");
    js->job.schedules.erase(it);
    Step step;
    step.deleted_schedules.insert({job_id, schedule_id});
    if (auto s = Commit(step); !s.ok()) return StoreFailed(s);
    return absl::OkStatus();
  });
}

absl::StatusOr<Run> Service::StartRun(const std::string& job_id, std::map<std::string, std::string> env,
                                      std::optional<std::vector<std::string>> args) {
  return loop_.Call([&]() -> absl::StatusOr<Run> {
    JobState* js = Find(job_id);
    if (js == nullptr) return absl::NotFoundError("Job not found");
    absl::Time now = clock_->Now();
    Step step;
    ConcurrencyPolicy policy = ManualPolicy(js->job);
    if (!js->active.empty() && policy == ConcurrencyPolicy::kForbid) {
      return absl::FailedPreconditionError("FORBID: run " + js->active.begin()->first + " of job " + job_id +
                                           " is active");
    }
    if (policy == ConcurrencyPolicy::kReplace) {
      std::vector<std::string> ids;
      for (const auto& [rid, r] : js->active) ids.push_back(rid);
      for (const auto& rid : ids) {
        if (auto a = js->active.find(rid); a != js->active.end()) {
          StopRunLocked(*js, a->second, "REPLACE: replaced by a manual run", now, step);
        }
      }
    }
    Run& run = CreateRun(*js, FreeInstant(*js, ToMs(now)), "manual", step);
    run.env = std::move(env);
    run.args = std::move(args);
    Run copy = run;
    if (auto s = Commit(step); !s.ok()) return StoreFailed(s);
    WantOffers();
    return copy;
  });
}

absl::StatusOr<Run> Service::StopRun(const std::string& job_id, const std::string& run_id) {
  return loop_.Call([&]() -> absl::StatusOr<Run> {
    JobState* js = Find(job_id);
    if (js == nullptr) return absl::NotFoundError("Job not found");
    auto it = js->active.find(run_id);
    if (it == js->active.end()) return absl::NotFoundError("Run not found");
    Step step;
    Run copy = it->second;
    StopRunLocked(*js, it->second, "stopped by request", clock_->Now(), step);
    if (auto a = js->active.find(run_id); a != js->active.end()) {
      copy = a->second;
    } else if (!js->history.empty() && js->history.back().id == run_id) {
      copy = js->history.back();
    }
    if (auto s = Commit(step); !s.ok()) return StoreFailed(s);
    return copy;
  });
}

absl::Status Service::StopAllRuns(const std::string& job_id) {
  return loop_.Call([&]() -> absl::Status {
    JobState* js = Find(job_id);
    if (js == nullptr) return absl::NotFoundError("Job not found");
    Step step;
    absl::Time now = clock_->Now();
    std::vector<std::string> ids;
    for (const auto& [rid, r] : js->active) ids.push_back(rid);
    for (const auto& rid : ids) {
      if (auto a = js->active.find(rid); a != js->active.end()) {
        StopRunLocked(*js, a->second, "killed by request", now, step);
      }
    }
    if (auto s = Commit(step); !s.ok()) return StoreFailed(s);
    return absl::OkStatus();
  });
}

absl::Status Service::MarkSuccess(const std::string& job_id) {
  return loop_.Call([&]() -> absl::Status {
    JobState* js = Find(job_id);
    if (js == nullptr) return absl::NotFoundError("Job not found");
    absl::Time now = clock_->Now();
    Step step;
    Run& run = CreateRun(*js, FreeInstant(*js, ToMs(now)), "marked successful", step, /*launch=*/false);
    FinishRun(*js, run.id, RunStatus::kSuccess, "", now, step);
    if (auto s = Commit(step); !s.ok()) return StoreFailed(s);
    WantOffers();
    ArmTimer();
    return absl::OkStatus();
  });
}

}  // namespace corral::batch
