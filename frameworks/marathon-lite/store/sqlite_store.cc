// The SQLite store (framework_kit's SqliteDb: WAL, synchronous=FULL).
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "corral/framework/sqlite.h"
#include "model/app_json.h"
#include "store/store.h"

namespace corral::marathon {
namespace {

constexpr int kMaxVersions = 50;  // per app, as Marathon's --max_versions

using framework::SqliteDb;
using framework::Statement;

class SqliteStore : public Store {
 public:
  explicit SqliteStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}

  absl::Status Init() {
    absl::Status st = db_->Exec(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS apps (id TEXT PRIMARY KEY, json TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS app_versions (app_id TEXT NOT NULL, version TEXT NOT NULL, json TEXT NOT NULL,"
        "  PRIMARY KEY (app_id, version));"
        "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, json TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS deployments (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, version TEXT NOT NULL,"
        "  previous TEXT NOT NULL, started_at TEXT NOT NULL, action TEXT NOT NULL, canary INTEGER NOT NULL,"
        "  progress INTEGER NOT NULL DEFAULT 0, progress_at TEXT NOT NULL DEFAULT '');");
    if (!st.ok()) return st;
    // A store written before deployments kept their progress.
    bool has_progress = false;
    {
      Statement cols(*db_, "PRAGMA table_info(deployments)");
      while (cols.Step() == SQLITE_ROW) has_progress = has_progress || cols.Text(1) == "progress";
    }
    if (has_progress) return absl::OkStatus();
    return db_->Exec(
        "ALTER TABLE deployments ADD COLUMN progress INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE deployments ADD COLUMN progress_at TEXT NOT NULL DEFAULT '';");
  }

  absl::StatusOr<StoredState> Load() override {
    StoredState state;
    {
      Statement s(*db_, "SELECT value FROM meta WHERE key = 'framework_id'");
      if (s.Step() == SQLITE_ROW) state.framework_id = s.Text(0);
    }
    {
      Statement s(*db_, "SELECT id, json FROM apps ORDER BY id");
      while (s.Step() == SQLITE_ROW) {
        auto app = ParseStoredApp(s.Text(1));
        if (!app) return absl::DataLossError("marathon store: the row of app " + s.Text(0) + " is not an app");
        state.apps.push_back(std::move(*app));
      }
    }
    {
      Statement s(*db_, "SELECT id, json FROM tasks ORDER BY id");
      while (s.Step() == SQLITE_ROW) {
        rapidjson::Document doc;
        doc.Parse(s.Text(1).c_str());
        Task t;
        if (doc.HasParseError() || !ReadTask(doc, &t)) {
          return absl::DataLossError("marathon store: the row of task " + s.Text(0) + " is not a task");
        }
        state.tasks.push_back(std::move(t));
      }
    }
    {
      Statement s(
          *db_,
          "SELECT id, app_id, version, previous, started_at, action, canary, progress, progress_at FROM deployments "
          "ORDER BY started_at");
      while (s.Step() == SQLITE_ROW) {
        Deployment d{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5), s.Text(6) == "1"};
        d.progress = static_cast<int>(std::strtol(s.Text(7).c_str(), nullptr, 10));
        d.progress_at = s.Text(8);
        state.deployments.push_back(std::move(d));
      }
    }
    return state;
  }

  absl::Status SetFrameworkId(const std::string& id) override {
    Statement s(*db_, "INSERT OR REPLACE INTO meta (key, value) VALUES ('framework_id', ?)");
    if (s.Bind(1, id).Step() != SQLITE_DONE) return s.Error("framework ID");
    return absl::OkStatus();
  }

  absl::Status PutApp(const App& app) override {
    return db_->Transaction([&] { return WriteApp(app); });
  }

  absl::Status PutAppChange(const App& app, const Deployment& d, const std::string& replaced) override {
    return db_->Transaction([&]() -> absl::Status {
      if (auto st = WriteApp(app); !st.ok()) return st;
      if (!replaced.empty()) {
        if (auto st = DeleteDeployment(replaced); !st.ok()) return st;
      }
      return PutDeployment(d);
    });
  }

  absl::Status DeleteApp(const std::string& app_id) override {
    return db_->Transaction([&]() -> absl::Status {
      for (const char* sql : {"DELETE FROM apps WHERE id = ?", "DELETE FROM app_versions WHERE app_id = ?"}) {
        Statement s(*db_, sql);
        if (s.Bind(1, app_id).Step() != SQLITE_DONE) return s.Error("delete app " + app_id);
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<std::string>> Versions(const std::string& app_id) override {
    Statement s(*db_, "SELECT version FROM app_versions WHERE app_id = ? ORDER BY version");
    s.Bind(1, app_id);
    std::vector<std::string> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(s.Text(0));
    if (rc != SQLITE_DONE) return s.Error("versions of " + app_id);
    return out;
  }

  absl::StatusOr<std::optional<App>> Version(const std::string& app_id, const std::string& version) override {
    Statement s(*db_, "SELECT json FROM app_versions WHERE app_id = ? AND version = ?");
    s.Bind(1, app_id).Bind(2, version);
    int rc = s.Step();
    if (rc == SQLITE_DONE) return std::optional<App>();
    if (rc != SQLITE_ROW) return s.Error("version of " + app_id);
    auto app = ParseStoredApp(s.Text(0));
    if (!app) return absl::DataLossError("marathon store: version " + version + " of " + app_id + " is not an app");
    return app;
  }

  absl::Status PutTasks(const std::vector<const Task*>& tasks) override {
    if (tasks.empty()) return absl::OkStatus();
    return db_->Transaction([&]() -> absl::Status {
      Statement s(*db_, "INSERT OR REPLACE INTO tasks (id, json) VALUES (?, ?)");
      for (const Task* t : tasks) {
        if (s.Bind(1, t->id).Bind(2, TaskJson(*t)).Step() != SQLITE_DONE) return s.Error("task " + t->id);
        s.Reset();
      }
      return absl::OkStatus();
    });
  }

  absl::Status DeleteTasks(const std::vector<std::string>& ids) override {
    if (ids.empty()) return absl::OkStatus();
    return db_->Transaction([&]() -> absl::Status {
      Statement s(*db_, "DELETE FROM tasks WHERE id = ?");
      for (const auto& id : ids) {
        if (s.Bind(1, id).Step() != SQLITE_DONE) return s.Error("delete task " + id);
        s.Reset();
      }
      return absl::OkStatus();
    });
  }

  absl::Status PutDeployment(const Deployment& d) override {
    Statement s(*db_,
                "INSERT OR REPLACE INTO deployments (id, app_id, version, previous, started_at, action, canary, "
                "progress, progress_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    s.Bind(1, d.id).Bind(2, d.app_id).Bind(3, d.version).Bind(4, d.previous).Bind(5, d.started_at).Bind(6, d.action);
    s.Bind(7, int64_t{d.canary ? 1 : 0}).Bind(8, int64_t{d.progress}).Bind(9, d.progress_at);
    if (s.Step() != SQLITE_DONE) return s.Error("deployment " + d.id);
    return absl::OkStatus();
  }

  absl::Status DeleteDeployment(const std::string& id) override {
    Statement s(*db_, "DELETE FROM deployments WHERE id = ?");
    if (s.Bind(1, id).Step() != SQLITE_DONE) return s.Error("delete deployment " + id);
    return absl::OkStatus();
  }

 private:
  // The app and its version in the history, inside the caller's transaction.
  absl::Status WriteApp(const App& app) {
    std::string json = AppJson(app);
    Statement a(*db_, "INSERT OR REPLACE INTO apps (id, json) VALUES (?, ?)");
    if (a.Bind(1, app.id).Bind(2, json).Step() != SQLITE_DONE) return a.Error("app " + app.id);
    Statement v(*db_, "INSERT OR REPLACE INTO app_versions (app_id, version, json) VALUES (?, ?, ?)");
    if (v.Bind(1, app.id).Bind(2, app.version).Bind(3, json).Step() != SQLITE_DONE) {
      return v.Error("version of app " + app.id);
    }
    Statement p(*db_,
                "DELETE FROM app_versions WHERE app_id = ?1 AND version NOT IN "
                "(SELECT version FROM app_versions WHERE app_id = ?1 ORDER BY version DESC LIMIT ?2)");
    if (p.Bind(1, app.id).Bind(2, int64_t{kMaxVersions}).Step() != SQLITE_DONE) return p.Error("old versions");
    return absl::OkStatus();
  }

  std::unique_ptr<SqliteDb> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& work_dir) {
  auto db = SqliteDb::Open(work_dir + "/marathon.db", "marathon store");
  if (!db.ok()) return db.status();
  auto store = std::make_unique<SqliteStore>(std::move(*db));
  if (auto s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace corral::marathon
