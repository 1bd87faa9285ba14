// The SQLite store (framework_kit's SqliteDb: WAL, synchronous=FULL).
#include "absl/strings/str_cat.h"
#include "corral/framework/sqlite.h"
#include "model/job_json.h"
#include "store/store.h"

namespace corral::batch {
namespace {

using framework::SqliteDb;
using framework::Statement;

class SqliteStore : public Store {
 public:
  explicit SqliteStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}

  absl::Status Init() {
    return db_->Exec(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, json TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS schedules (job_id TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL,"
        "  PRIMARY KEY (job_id, id));"
        "CREATE TABLE IF NOT EXISTS stats (job_id TEXT PRIMARY KEY, json TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS runs (job_id TEXT NOT NULL, id TEXT NOT NULL, instant INTEGER NOT NULL,"
        "  json TEXT NOT NULL, PRIMARY KEY (job_id, id), UNIQUE (job_id, instant));"
        "CREATE TABLE IF NOT EXISTS run_tasks (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, run_id TEXT NOT NULL,"
        "  seq INTEGER NOT NULL, json TEXT NOT NULL);"
        "CREATE INDEX IF NOT EXISTS run_tasks_by_run ON run_tasks (job_id, run_id, seq);");
  }

  absl::StatusOr<StoredState> Load() override {
    StoredState st;
    {
      Statement s(*db_, "SELECT value FROM meta WHERE key = 'framework_id'");
      if (s.Step() == SQLITE_ROW) st.framework_id = s.Text(0);
    }
    std::map<std::string, size_t> job_index;
    {
      Statement s(*db_, "SELECT id, json FROM jobs ORDER BY id");
      while (s.Step() == SQLITE_ROW) {
        auto job = ParseStoredJob(s.Text(1));
        if (!job) return absl::DataLossError("batch store: the row of job " + s.Text(0) + " is not a job");
        job_index[job->id] = st.jobs.size();
        st.jobs.push_back(std::move(*job));
      }
    }
    {
      Statement s(*db_, "SELECT job_id, id, json FROM schedules ORDER BY job_id, rowid");
      while (s.Step() == SQLITE_ROW) {
        auto it = job_index.find(s.Text(0));
        if (it == job_index.end()) continue;
        auto sched = ParseScheduleRow(s.Text(2));
        if (!sched) {
          return absl::DataLossError("batch store: schedule " + s.Text(1) + " of " + s.Text(0) + " is unreadable");
        }
        st.jobs[it->second].schedules.push_back(std::move(*sched));
      }
    }
    {
      Statement s(*db_, "SELECT job_id, json FROM stats");
      while (s.Step() == SQLITE_ROW) {
        rapidjson::Document doc;
        doc.Parse(s.Text(1).c_str());
        JobStats js;
        if (doc.HasParseError() || !ReadStats(doc, &js)) {
          return absl::DataLossError("batch store: the counts of " + s.Text(0) + " are unreadable");
        }
        st.stats[s.Text(0)] = js;
      }
    }
    std::map<std::pair<std::string, std::string>, size_t> run_index;
    {
      Statement s(*db_, "SELECT id, json FROM runs ORDER BY instant, job_id, id");
      while (s.Step() == SQLITE_ROW) {
        rapidjson::Document doc;
        doc.Parse(s.Text(1).c_str());
        Run r;
        if (doc.HasParseError() || !ReadStoredRun(doc, &r)) {
          return absl::DataLossError("batch store: the row of run " + s.Text(0) + " is not a run");
        }
        run_index[{r.job_id, r.id}] = st.runs.size();
        st.runs.push_back(std::move(r));
      }
    }
    {
      Statement s(*db_, "SELECT job_id, run_id, json FROM run_tasks ORDER BY job_id, run_id, seq");
      while (s.Step() == SQLITE_ROW) {
        auto it = run_index.find({s.Text(0), s.Text(1)});
        if (it == run_index.end()) continue;
        rapidjson::Document doc;
        doc.Parse(s.Text(2).c_str());
        RunTask t;
        if (doc.HasParseError() || !ReadRunTask(doc, &t)) {
          return absl::DataLossError("batch store: a task of run " + s.Text(1) + " is unreadable");
        }
        st.runs[it->second].tasks.push_back(std::move(t));
      }
    }
    return st;
  }

  absl::Status SetFrameworkId(const std::string& id) override {
    Statement s(*db_, "INSERT OR REPLACE INTO meta (key, value) VALUES ('framework_id', ?)");
    return s.Bind(1, id).Run("framework ID");
  }

  absl::Status Commit(const StoreBatch& b) override {
    if (b.empty()) return absl::OkStatus();
    return db_->Transaction([&]() -> absl::Status {
      if (!b.delete_jobs.empty()) {
        for (const char* sql : {"DELETE FROM run_tasks WHERE job_id = ?", "DELETE FROM runs WHERE job_id = ?",
                                "DELETE FROM schedules WHERE job_id = ?", "DELETE FROM stats WHERE job_id = ?",
                                "DELETE FROM jobs WHERE id = ?"}) {
          Statement s(*db_, sql);
          for (const auto& id : b.delete_jobs) {
            if (auto st = s.Bind(1, id).Run("delete job " + id); !st.ok()) return st;
          }
        }
      }
      if (!b.put_jobs.empty()) {
        Statement s(*db_, "INSERT OR REPLACE INTO jobs (id, json) VALUES (?, ?)");
        for (const Job* j : b.put_jobs) {
          if (auto st = s.Bind(1, j->id).Bind(2, JobRowJson(*j)).Run("job " + j->id); !st.ok()) return st;
        }
      }
      if (!b.delete_schedules.empty()) {
        Statement s(*db_, "DELETE FROM schedules WHERE job_id = ? AND id = ?");
        for (const auto& [job, id] : b.delete_schedules) {
          if (auto st = s.Bind(1, job).Bind(2, id).Run("delete schedule " + id); !st.ok()) return st;
        }
      }
      if (!b.put_schedules.empty()) {
        Statement s(*db_, "INSERT OR REPLACE INTO schedules (job_id, id, json) VALUES (?, ?, ?)");
        for (const auto& [job, sched] : b.put_schedules) {
          if (auto st = s.Bind(1, job).Bind(2, sched->id).Bind(3, ScheduleRowJson(*sched)).Run("schedule " + sched->id);
              !st.ok()) {
            return st;
          }
        }
      }
      if (!b.delete_runs.empty()) {
        Statement t(*db_, "DELETE FROM run_tasks WHERE job_id = ? AND run_id = ?");
        Statement r(*db_, "DELETE FROM runs WHERE job_id = ? AND id = ?");
        for (const auto& [job, id] : b.delete_runs) {
          if (auto st = t.Bind(1, job).Bind(2, id).Run("delete tasks of run " + id); !st.ok()) return st;
          if (auto st = r.Bind(1, job).Bind(2, id).Run("delete run " + id); !st.ok()) return st;
        }
      }
      if (!b.put_runs.empty()) {
        // An update keeps the row; a new run must be the first of its
        // job for its instant (UNIQUE (job_id, instant)).
        Statement r(*db_,
                    "INSERT INTO runs (id, job_id, instant, json) VALUES (?1, ?2, ?3, ?4) "
                    "ON CONFLICT (job_id, id) DO UPDATE SET json = excluded.json");
        Statement t(*db_, "INSERT OR REPLACE INTO run_tasks (id, job_id, run_id, seq, json) VALUES (?, ?, ?, ?, ?)");
        for (const Run* run : b.put_runs) {
          r.Bind(1, run->id).Bind(2, run->job_id).Bind(3, run->instant_ms).Bind(4, StoredRunJson(*run));
          int rc = r.Step();
          if (rc == SQLITE_CONSTRAINT) {
            r.Reset();
            return absl::AlreadyExistsError(
                absl::StrCat("batch store: job ", run->job_id, " has a run for the instant ", run->instant_ms));
          }
          if (rc != SQLITE_DONE) {
            auto err = r.Error("run " + run->id);
            r.Reset();
            return err;
          }
          r.Reset();
          for (size_t i = 0; i < run->tasks.size(); ++i) {
            const RunTask& task = run->tasks[i];
            t.Bind(1, task.id).Bind(2, run->job_id).Bind(3, run->id).Bind(4, static_cast<int64_t>(i));
            t.Bind(5, RunTaskJson(task));
            if (auto st = t.Run("task " + task.id); !st.ok()) return st;
          }
        }
      }
      if (!b.put_stats.empty()) {
        Statement s(*db_, "INSERT OR REPLACE INTO stats (job_id, json) VALUES (?, ?)");
        for (const auto& [job, stats] : b.put_stats) {
          if (auto st = s.Bind(1, job).Bind(2, StatsJson(*stats)).Run("counts of " + job); !st.ok()) return st;
        }
      }
      return absl::OkStatus();
    });
  }

 private:
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& work_dir) {
  auto db = SqliteDb::Open(work_dir + "/batch.db", "batch store");
  if (!db.ok()) return db.status();
  auto store = std::make_unique<SqliteStore>(std::move(*db));
  if (auto s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace corral::batch
