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
// Names are percent-encoded ('/' cannot be in one).
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "model/job_json.h"
#include "store/store.h"

namespace corral::batch {
namespace {

std::string Encode(const std::string& id) {
  std::string out;
  for (char c : id) {
    if (c == '/' || c == '%') {
      absl::StrAppend(&out, c == '/' ? "%2F" : "%25");
    } else {
      out += c;
    }
  }
  return out;
}

std::string Seq(size_t i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%06zu", i);
  return buf;
}

// The ops of one Commit, with what they create and delete seen by the ops
// after them (a directory made for the first schedule of a job, say).
class Ops {
 public:
  explicit Ops(const std::set<std::string>& known) : known_(known) {}
  bool Exists(const std::string& p) const {
    if (removed_.count(p)) return false;
    return known_.count(p) || added_.count(p);
  }
  void Upsert(const std::string& p, const std::string& data) {
    ops_.push_back({Exists(p) ? zk::Session::Op::kSet : zk::Session::Op::kCreate, p, data});
    added_.insert(p);
    removed_.erase(p);
  }
  void Dir(const std::string& p) {
    if (!Exists(p)) Upsert(p, "");
  }
  void Create(const std::string& p, const std::string& data) {
    ops_.push_back({zk::Session::Op::kCreate, p, data});
    added_.insert(p);
    removed_.erase(p);
  }
  void Delete(const std::string& p) {
    if (!Exists(p)) return;
    ops_.push_back({zk::Session::Op::kDelete, p, ""});
    removed_.insert(p);
    added_.erase(p);
  }
  // Every existing node under `dir` (and `dir`), deepest first.
  void DeleteTree(const std::string& dir) {
    std::vector<std::string> under;
    std::string prefix = dir + "/";
    for (auto it = known_.lower_bound(prefix); it != known_.end() && absl::StartsWith(*it, prefix); ++it)
      under.push_back(*it);
    for (const auto& p : added_)
      if (absl::StartsWith(p, prefix)) under.push_back(p);
    std::sort(under.begin(), under.end(), [](const std::string& a, const std::string& b) {
      return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
    });
    under.erase(std::unique(under.begin(), under.end()), under.end());
    for (const auto& p : under) Delete(p);
    Delete(dir);
  }
  const std::vector<zk::Session::Op>& ops() const { return ops_; }

 private:
  const std::set<std::string>& known_;
  std::set<std::string> added_, removed_;
  std::vector<zk::Session::Op> ops_;
};

class ZkStore : public Store {
 public:
  ZkStore(zk::Session* session, std::string root, std::string guard)
      : zk_(session), root_(std::move(root)), guard_(std::move(guard)) {}

  absl::Status Init() {
    for (const char* dir : {"/jobs", "/schedules", "/stats", "/runs", "/tasks", "/instants"}) {
      if (auto st = zk_->CreatePath(root_ + dir, false); !st.ok()) return st;
      known_.insert(root_ + dir);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<StoredState> Load() override {
    StoredState st;
    auto fid = zk_->Get(root_ + "/framework_id");
    if (fid.ok()) {
      st.framework_id = *fid;
      known_.insert(root_ + "/framework_id");
    } else if (!absl::IsNotFound(fid.status())) {
      return fid.status();
    }
    std::map<std::string, size_t> job_index;
    auto jobs = Read(root_ + "/jobs");
    if (!jobs.ok()) return jobs.status();
    for (const auto& [name, json] : *jobs) {
      auto job = ParseStoredJob(json);
      if (!job) return absl::DataLossError("batch store: node " + name + " under jobs is not a job");
      job_index[job->id] = st.jobs.size();
      st.jobs.push_back(std::move(*job));
    }
    for (auto& job : st.jobs) {
      auto scheds = Read(root_ + "/schedules/" + Encode(job.id));
      if (!scheds.ok()) return scheds.status();
      for (const auto& [name, json] : *scheds) {
        auto sched = ParseScheduleRow(json);
        if (!sched) return absl::DataLossError("batch store: schedule " + name + " of " + job.id + " is unreadable");
        job.schedules.push_back(std::move(*sched));
      }
    }
    auto stats = Read(root_ + "/stats");
    if (!stats.ok()) return stats.status();
    for (const auto& [name, json] : *stats) {
      rapidjson::Document doc;
      doc.Parse(json.c_str());
      JobStats js;
      if (doc.HasParseError() || !ReadStats(doc, &js)) {
        return absl::DataLossError("batch store: the counts " + name + " are unreadable");
      }
      st.stats[Decode(name)] = js;
    }
    auto run_dirs = zk_->Children(root_ + "/runs");
    if (!run_dirs.ok()) return run_dirs.status();
    for (const auto& job_dir : *run_dirs) {
      auto runs = Read(root_ + "/runs/" + job_dir);
      if (!runs.ok()) return runs.status();
      for (const auto& [name, json] : *runs) {
        rapidjson::Document doc;
        doc.Parse(json.c_str());
        Run r;
        if (doc.HasParseError() || !ReadStoredRun(doc, &r)) {
          return absl::DataLossError("batch store: run " + name + " is not a run");
        }
        auto tasks = Read(root_ + "/tasks/" + job_dir + "/" + name);
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
    for (const auto& d : *task_dirs) known_.insert(root_ + "/tasks/" + d);
    auto instant_dirs = zk_->Children(root_ + "/instants");
    if (!instant_dirs.ok()) return instant_dirs.status();
    for (const auto& job_dir : *instant_dirs) {
      auto names = zk_->Children(root_ + "/instants/" + job_dir);
      if (!names.ok()) return names.status();
      known_.insert(root_ + "/instants/" + job_dir);
      for (const auto& n : *names) known_.insert(root_ + "/instants/" + job_dir + "/" + n);
    }
    std::sort(st.runs.begin(), st.runs.end(), [](const Run& a, const Run& b) {
      return std::tie(a.instant_ms, a.job_id, a.id) < std::tie(b.instant_ms, b.job_id, b.id);
    });
    return st;
  }

  absl::Status SetFrameworkId(const std::string& id) override {
    Ops ops(known_);
    ops.Upsert(root_ + "/framework_id", id);
    return Apply(ops);
  }

  absl::Status Commit(const StoreBatch& b) override {
    if (b.empty()) return absl::OkStatus();
    Ops ops(known_);
    for (const auto& id : b.delete_jobs) {
      std::string j = Encode(id);
      for (const char* dir : {"/tasks/", "/runs/", "/instants/", "/schedules/"}) ops.DeleteTree(root_ + dir + j);
      ops.Delete(root_ + "/stats/" + j);
      ops.Delete(root_ + "/jobs/" + j);
    }
    for (const Job* job : b.put_jobs) ops.Upsert(root_ + "/jobs/" + Encode(job->id), JobRowJson(*job));
    for (const auto& [job, id] : b.delete_schedules) ops.Delete(root_ + "/schedules/" + Encode(job) + "/" + Encode(id));
    for (const auto& [job, sched] : b.put_schedules) {
      ops.Dir(root_ + "/schedules/" + Encode(job));
      ops.Upsert(root_ + "/schedules/" + Encode(job) + "/" + Encode(sched->id), ScheduleRowJson(*sched));
    }
    for (const auto& [job, id] : b.delete_runs) {
      ops.DeleteTree(root_ + "/tasks/" + Encode(job) + "/" + Encode(id));
      ops.Delete(root_ + "/runs/" + Encode(job) + "/" + Encode(id));
      if (auto it = instants_.find({job, id}); it != instants_.end()) {
        ops.Delete(root_ + "/instants/" + Encode(job) + "/" + std::to_string(it->second));
      }
    }
    std::vector<std::string> fences;
    for (const Run* run : b.put_runs) {
      std::string j = Encode(run->job_id), r = Encode(run->id);
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
    for (const auto& [job, stats] : b.put_stats) ops.Upsert(root_ + "/stats/" + Encode(job), StatsJson(*stats));
    absl::Status st = Apply(ops);
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
  static std::string Decode(const std::string& name) {
    std::string out;
    for (size_t i = 0; i < name.size(); ++i) {
      if (name.compare(i, 3, "%2F") == 0) {
        out += '/';
        i += 2;
      } else if (name.compare(i, 3, "%25") == 0) {
        out += '%';
        i += 2;
      } else {
        out += name[i];
      }
    }
    return out;
  }

  // The children of `dir` with their data, by name; none when it is absent.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Read(const std::string& dir) {
    std::vector<std::pair<std::string, std::string>> out;
    auto names = zk_->Children(dir);
    if (absl::IsNotFound(names.status())) return out;
    if (!names.ok()) return names.status();
    known_.insert(dir);
    std::sort(names->begin(), names->end());
    for (const auto& n : *names) {
      auto data = zk_->Get(dir + "/" + n);
      if (absl::IsNotFound(data.status())) continue;
      if (!data.ok()) return data.status();
      known_.insert(dir + "/" + n);
      out.emplace_back(n, std::move(*data));
    }
    return out;
  }

  absl::Status Apply(const Ops& ops) {
    if (ops.ops().empty()) return absl::OkStatus();
    absl::Status st = zk_->Multi(guard_, ops.ops());
    if (!st.ok()) return st;
    for (const auto& op : ops.ops()) {
      if (op.kind == zk::Session::Op::kDelete) {
        known_.erase(op.path);
      } else {
        known_.insert(op.path);
      }
    }
    return absl::OkStatus();
  }

  zk::Session* zk_;
  std::string root_;
  std::string guard_;
  std::set<std::string> known_;                                      // nodes that exist
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
