#include "corral/master/registry.h"

#include <sqlite3.h>

#include <map>
#include <optional>

#include "absl/strings/str_cat.h"

namespace corral {

namespace {

constexpr int kSchemaVersion = 1;

class SqliteRegistry : public Registry {
 public:
  SqliteRegistry(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteRegistry() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  absl::Status Init() {
    const char* schema =
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=FULL;"
        "CREATE TABLE IF NOT EXISTS corral_registry (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, info BLOB NOT NULL,"
        "  unreachable_since REAL NOT NULL DEFAULT 0);"
        "CREATE TABLE IF NOT EXISTS frameworks (id TEXT PRIMARY KEY, info BLOB NOT NULL);"
        "CREATE TABLE IF NOT EXISTS operator_state (name TEXT PRIMARY KEY, value BLOB NOT NULL);";
    if (absl::Status s = Exec(schema); !s.ok()) return s;
    sqlite3_stmt* stmt = Prepare("SELECT value FROM corral_registry WHERE key = 'schema_version'");
    if (stmt == nullptr) return Error("read the schema version of");
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      int version = sqlite3_column_int(stmt, 0);
      sqlite3_reset(stmt);
      if (version != kSchemaVersion) {
        return absl::FailedPreconditionError(
            absl::StrCat("registry ", path_, " has schema version ", version, "; this master reads version ",
                         kSchemaVersion));
      }
      return absl::OkStatus();
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return Error("read");
    return Exec(absl::StrCat("INSERT INTO corral_registry VALUES ('schema_version', '", kSchemaVersion, "')"));
  }

  absl::StatusOr<RegistryState> Recover() override {
    RegistryState state;
    sqlite3_stmt* stmt = Prepare("SELECT id, info, unreachable_since FROM agents ORDER BY id");
    if (stmt == nullptr) return Error("read agents from");
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      RegistryState::Agent a;
      if (!a.info.ParseFromArray(sqlite3_column_blob(stmt, 1), sqlite3_column_bytes(stmt, 1))) {
        std::string id = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        sqlite3_reset(stmt);
        return absl::DataLossError(absl::StrCat("registry ", path_, " is corrupt: agent '", id, "' does not decode"));
      }
      a.unreachable_since = sqlite3_column_double(stmt, 2);
      state.agents.push_back(std::move(a));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return Error("read agents from");
    stmt = Prepare("SELECT id, info FROM frameworks ORDER BY id");
    if (stmt == nullptr) return Error("read frameworks from");
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      v1::FrameworkInfo info;
      if (!info.ParseFromArray(sqlite3_column_blob(stmt, 1), sqlite3_column_bytes(stmt, 1))) {
        std::string id = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        sqlite3_reset(stmt);
        return absl::DataLossError(absl::StrCat("registry ", path_, " is corrupt: framework '", id, "' does not decode"));
      }
      state.frameworks.push_back(std::move(info));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return Error("read frameworks from");
    return state;
  }

  absl::Status AdmitAgent(const v1::AgentInfo& info) override {
    return Write("INSERT OR REPLACE INTO agents (id, info, unreachable_since) VALUES (?1, ?2, 0)", info.id().value(),
                 info.SerializeAsString());
  }
  absl::Status MarkAgentUnreachable(const std::string& agent_id, double since) override {
    sqlite3_stmt* stmt = Prepare("UPDATE agents SET unreachable_since = ?2 WHERE id = ?1");
    if (stmt == nullptr) return Error("update");
    sqlite3_bind_text(stmt, 1, agent_id.data(), static_cast<int>(agent_id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_double(stmt, 2, since);
    return Step(stmt, "update");
  }
  absl::Status RemoveAgent(const std::string& agent_id) override {
    return Write("DELETE FROM agents WHERE id = ?1", agent_id, std::nullopt);
  }
  absl::Status AddFramework(const v1::FrameworkInfo& info) override {
    return Write("INSERT OR REPLACE INTO frameworks (id, info) VALUES (?1, ?2)", info.id().value(),
                 info.SerializeAsString());
  }
  absl::Status RemoveFramework(const std::string& framework_id) override {
    return Write("DELETE FROM frameworks WHERE id = ?1", framework_id, std::nullopt);
  }
  absl::Status PutOperatorState(const std::string& name, const std::string& value) override {
    return Write("INSERT OR REPLACE INTO operator_state (name, value) VALUES (?1, ?2)", name, value);
  }
  absl::StatusOr<std::string> GetOperatorState(const std::string& name) override {
    sqlite3_stmt* stmt = Prepare("SELECT value FROM operator_state WHERE name = ?1");
    if (stmt == nullptr) return Error("read");
    sqlite3_bind_text(stmt, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    int rc = sqlite3_step(stmt);
    std::string value;
    if (rc == SQLITE_ROW) {
      value.assign(static_cast<const char*>(sqlite3_column_blob(stmt, 0)), sqlite3_column_bytes(stmt, 0));
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("no operator state '", name, "'"));
    if (rc != SQLITE_ROW) return Error("read");
    return value;
  }

 private:
  absl::Status Error(const std::string& what) {
    return absl::UnavailableError(absl::StrCat("cannot ", what, " registry ", path_, ": ", sqlite3_errmsg(db_)));
  }
  absl::Status Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string why = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      return absl::UnavailableError(absl::StrCat("cannot use registry ", path_, ": ", why));
    }
    return absl::OkStatus();
  }
  sqlite3_stmt* Prepare(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) return nullptr;
    statements_[sql] = stmt;
    return stmt;
  }
  absl::Status Step(sqlite3_stmt* stmt, const char* what) {
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc == SQLITE_DONE ? absl::OkStatus() : Error(what);
  }
  absl::Status Write(const char* sql, const std::string& key, const std::optional<std::string>& blob) {
    sqlite3_stmt* stmt = Prepare(sql);
    if (stmt == nullptr) return Error("write to");
    sqlite3_bind_text(stmt, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    if (blob) sqlite3_bind_blob(stmt, 2, blob->data(), static_cast<int>(blob->size()), SQLITE_TRANSIENT);
    return Step(stmt, "write to");
  }

  sqlite3* db_;
  std::string path_;
  std::map<std::string, sqlite3_stmt*> statements_;
};

class InMemoryRegistry : public Registry {
 public:
  absl::StatusOr<RegistryState> Recover() override { return RegistryState(); }
  absl::Status AdmitAgent(const v1::AgentInfo&) override { return absl::OkStatus(); }
  absl::Status MarkAgentUnreachable(const std::string&, double) override { return absl::OkStatus(); }
  absl::Status RemoveAgent(const std::string&) override { return absl::OkStatus(); }
  absl::Status AddFramework(const v1::FrameworkInfo&) override { return absl::OkStatus(); }
  absl::Status RemoveFramework(const std::string&) override { return absl::OkStatus(); }
  absl::Status PutOperatorState(const std::string& name, const std::string& value) override {
    state_[name] = value;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> GetOperatorState(const std::string& name) override {
    auto it = state_.find(name);
    if (it == state_.end()) return absl::NotFoundError(absl::StrCat("no operator state '", name, "'"));
    return it->second;
  }

 private:
  std::map<std::string, std::string> state_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Registry>> OpenSqliteRegistry(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open registry ", path, ": ", why));
  }
  sqlite3_busy_timeout(db, 5000);
  auto registry = std::make_unique<SqliteRegistry>(db, path);
  if (absl::Status s = registry->Init(); !s.ok()) return s;
  // A damaged file may open and still fail on its first real read.
  {
    sqlite3_stmt* check = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &check, nullptr) == SQLITE_OK) {
      std::string result;
      if (sqlite3_step(check) == SQLITE_ROW) result = reinterpret_cast<const char*>(sqlite3_column_text(check, 0));
      sqlite3_finalize(check);
      if (result != "ok") {
        return absl::DataLossError(absl::StrCat("registry ", path, " is corrupt: ", result));
      }
    }
  }
  return std::unique_ptr<Registry>(std::move(registry));
}

std::unique_ptr<Registry> NewInMemoryRegistry() { return std::make_unique<InMemoryRegistry>(); }

}  // namespace corral
