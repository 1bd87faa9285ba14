// The ZooKeeper store: the SQLite store's rows as znodes.
//   <root>/framework_id
//   <root>/jobs/<job>                     the job (without its schedules)
//   <root>/schedules/<job>/<schedule>     a schedule, with its cursor
//   <root>/stats/<job>                    the job's counts
//   <root>/runs/<job>/<run>               a run (its instant: the DAG's progress)
//   <root>/tasks/<job>/<run>/<seq>        the run's tasks, in order
//   <root>/instants/<job>/<instant>       the exactly-once fence: created with
//                                         a new run, so a second run of a job
//                                         for one instant fails the multi-op
// Names are percent-encoded ('/' cannot be in one); writes are guarded
// multi-ops (corral/zookeeper/records.h).
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "model/job_json.h"
#include "corral/zookeeper/records.h"
#include "store/store.h"

namespace corral::batch {
namespace {

std::string Seq(size_t i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%06zu", i);
  return buf;
}

using Nodes = zk::RecordNodes;

class ZkStore : public Store {
 public:
  ZkStore(zk::Session* session, std::string root, std::string guard)
      : zk_(session), root_(std::move(root)), nodes_(session, std::move(guard)) {}

  absl::Status Init() {
    for (const char* dir : {"/jobs", "/schedules", "/stats", "/runs", "/tasks", "/instants"}) {
      if (auto st = nodes_.MakeDirs(root_ + dir); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<StoredState> Load() override {
    StoredState st;
    auto fid = nodes_.Get(root_ + "/framework_id");
    if (fid.ok()) {
      st.framework_id = *fid;
    } else if (!absl::IsNotFound(fid.status())) {
      return fid.status();
    }
    std::map<std::string, size_t> job_index;
    auto jobs = nodes_.Children(root_ + "/jobs");
    if (!jobs.ok()) return jobs.status();
    for (const auto& [name, json] : *jobs) {
      auto job = ParseStoredJob(json);
      if (!job) return absl::DataLossError("batch store: node " + name + " under jobs is not a job");
      job_index[job->id] = st.jobs.size();
      st.jobs.push_back(std::move(*job));
    }
    for (auto& job : st.jobs) {
      auto scheds = nodes_.Children(root_ + "/schedules/" + Nodes::Name(job.id));
      if (!scheds.ok()) return scheds.status();
      for (const auto& [name, json] : *scheds) {
        auto sched = ParseScheduleRow(json);
        if (!sched) return absl::DataLossError("batch store: schedule " + name + " of " + job.id + " is unreadable");
        job.schedules.push_back(std::move(*sched));
      }
    }
    auto stats = nodes_.Children(root_ + "/stats");
    if (!stats.ok()) return stats.status();
    for (const auto& [name, json] : *stats) {
      rapidjson::Document doc;
      doc.Parse(json.c_str());
      JobStats js;
      if (doc.HasParseError() || !ReadStats(doc, &js)) {
        return absl::DataLossError("batch store: the counts " + name + " are unreadable");
      }
      st.stats[Nodes::Id(name)] = js;
    }
    auto run_dirs = zk_->Children(root_ + "/runs");
    if (!run_dirs.ok()) return run_dirs.status();
    for (const auto& job_dir : *run_dirs) {
      auto runs = nodes_.Children(root_ + "/runs/" + job_dir);
      if (!runs.ok()) return runs.status();
      for (const auto& [name, json] : *runs) {
        rapidjson::Document doc;
        doc.Parse(json.c_str());
        Run r;
        if (doc.HasParseError() || !ReadStoredRun(doc, &r)) {
          return absl::DataLossError("batch store: run " + name + " is not a run");
        }
        auto tasks = nodes_.Children(root_ + "/tasks/" + job_dir + "/" + name);
        if (!tasks.ok()) return tasks.status();
        for (const auto& [seq, tjson] : *tasks) {
          rapidjson::Document tdoc;
          tdoc.Parse(tjson.c_str());
          RunTask t;
          if (tdoc.HasParseError() || !ReadRunTask(tdoc, &t)) {
            return absl::DataLossError("batch store: a task of run " + r.id + " is unreadable");
          }
          r.tasks.push_back(std::move(t));
        }
        instants_[{r.job_id, r.id}] = r.instant_ms;
        st.runs.push_back(std::move(r));
      }
    }
    auto task_dirs = zk_->Children(root_ + "/tasks");
    if (!task_dirs.ok()) return task_dirs.status();
    for (const auto& d : *task_dirs) nodes_.Learn(root_ + "/tasks/" + d, true);
    auto instant_dirs = zk_->Children(root_ + "/instants");
    if (!instant_dirs.ok()) return instant_dirs.status();
    for (const auto& job_dir : *instant_dirs) {
      auto names = zk_->Children(root_ + "/instants/" + job_dir);
      if (!names.ok()) return names.status();
      nodes_.Learn(root_ + "/instants/" + job_dir, true);
      for (const auto& n : *names) nodes_.Learn(root_ + "/instants/" + job_dir + "/" + n, true);
    }
    std::sort(st.runs.begin(), st.runs.end(), [](const Run& a, const Run& b) {
      return std::tie(a.instant_ms, a.job_id, a.id) < std::tie(b.instant_ms, b.job_id, b.id);
    });
    return st;
  }

  absl::Status SetFrameworkId(const std::string& id) override {
    Nodes::Write ops = nodes_.NewWrite();
    ops.Upsert(root_ + "/framework_id", id);
    return nodes_.Apply(ops);
  }

  absl::Status Commit(const StoreBatch& b) override {
    if (b.empty()) return absl::OkStatus();
    Nodes::Write ops = nodes_.NewWrite();
    for (const auto& id : b.delete_jobs) {
      std::string j = Nodes::Name(id);
      for (const char* dir : {"/tasks/", "/runs/", "/instants/", "/schedules/"}) ops.DeleteTree(root_ + dir + j);
      ops.Delete(root_ + "/stats/" + j);
      ops.Delete(root_ + "/jobs/" + j);
    }
    for (const Job* job : b.put_jobs) ops.Upsert(root_ + "/jobs/" + Nodes::Name(job->id), JobRowJson(*job));
    for (const auto& [job, id] : b.delete_schedules)
      ops.Delete(root_ + "/schedules/" + Nodes::Name(job) + "/" + Nodes::Name(id));
    for (const auto& [job, sched] : b.put_schedules) {
      ops.Dir(root_ + "/schedules/" + Nodes::Name(job));
      ops.Upsert(root_ + "/schedules/" + Nodes::Name(job) + "/" + Nodes::Name(sched->id), ScheduleRowJson(*sched));
    }
    for (const auto& [job, id] : b.delete_runs) {
      ops.DeleteTree(root_ + "/tasks/" + Nodes::Name(job) + "/" + Nodes::Name(id));
      ops.Delete(root_ + "/runs/" + Nodes::Name(job) + "/" + Nodes::Name(id));
      if (auto it = instants_.find({job, id}); it != instants_.end()) {
        ops.Delete(root_ + "/instants/" + Nodes::Name(job) + "/" + std::to_string(it->second));
      }
    }
    std::vector<std::string> fences;
    for (const Run* run : b.put_runs) {
      std::string j = Nodes::Name(run->job_id), r = Nodes::Name(run->id);
      std::string node = root_ + "/runs/" + j + "/" + r;
      if (!ops.Exists(node)) {
        // A new run must be the first of its job for its instant.
        ops.Dir(root_ + "/instants/" + j);
        std::string fence = root_ + "/instants/" + j + "/" + std::to_string(run->instant_ms);
        fences.push_back(fence);
        ops.Create(fence, run->id);
        ops.Dir(root_ + "/runs/" + j);
      }
      ops.Upsert(node, StoredRunJson(*run));
      if (!run->tasks.empty()) {
        ops.Dir(root_ + "/tasks/" + j);
        ops.Dir(root_ + "/tasks/" + j + "/" + r);
      }
      for (size_t i = 0; i < run->tasks.size(); ++i) {
        ops.Upsert(root_ + "/tasks/" + j + "/" + r + "/" + Seq(i), RunTaskJson(run->tasks[i]));
      }
    }
    for (const auto& [job, stats] : b.put_stats) ops.Upsert(root_ + "/stats/" + Nodes::Name(job), StatsJson(*stats));
    absl::Status st = nodes_.Apply(ops);
    if (absl::IsAlreadyExists(st)) {
      for (const auto& f : fences) {
        if (absl::StrContains(st.message(), f)) {
          return absl::AlreadyExistsError(absl::StrCat("batch store: a run already holds the instant ", f));
        }
      }
    }
    if (!st.ok()) return st;
    for (const auto& [job, id] : b.delete_runs) instants_.erase({job, id});
    for (const auto& id : b.delete_jobs) {
      for (auto it = instants_.begin(); it != instants_.end();) it = it->first.first == id ? instants_.erase(it) : ++it;
    }
    for (const Run* run : b.put_runs) instants_[{run->job_id, run->id}] = run->instant_ms;
    return absl::OkStatus();
  }

 private:
  zk::Session* zk_;
  std::string root_;
  Nodes nodes_;
  std::map<std::pair<std::string, std::string>, int64_t> instants_;  // (job, run) -> its fence
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenZkStore(zk::Session* session, const std::string& root,
                                                   const std::string& guard) {
  auto store = std::make_unique<ZkStore>(session, root, guard);
  if (auto st = store->Init(); !st.ok()) return st;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace corral::batch
