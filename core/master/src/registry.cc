#include "corral/master/registry.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "corral/common/logging.h"

namespace corral {

namespace {

// 2: agents carry the identity that binds their ID (principal, secret_digest).
constexpr int kSchemaVersion = 2;

// The number of the last acknowledged write, beside the database in
// <registry>-seq: SQLite silently ignores a WAL whose header is damaged and
// every frame from a damaged one on, so a registry that lost committed
// writes opens as if it never had them. The database counts its writes
// (write_seq, in the same transaction as each write); this file says how
// far the count had come when the last write was acknowledged. A database
// behind it has lost writes. The file is written after each commit and
// never synced: a crash of the process loses nothing written, and after a
// power loss it can only lag (which is no alarm), never lead.
class WriteCounter {
 public:
  explicit WriteCounter(std::string path) : path_(std::move(path)) {}
  ~WriteCounter() {
    if (fd_ >= 0) ::close(fd_);
  }
  // The count recorded by the last run: 0 when there is none, nullopt when
  // the file is damaged (it then proves nothing).
  std::optional<uint64_t> Read() const {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    uint64_t words[2] = {0, 0};
    ssize_t n = ::pread(fd, words, sizeof(words), 0);
    ::close(fd);
    if (n != static_cast<ssize_t>(sizeof(words)) || words[1] != ~words[0]) return std::nullopt;
    return words[0];
  }
  void Record(uint64_t seq) {
    if (fd_ < 0) fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    uint64_t words[2] = {seq, ~seq};
    // One write: a process killed now leaves the old count or the new one.
    if (fd_ < 0 || ::pwrite(fd_, words, sizeof(words), 0) != static_cast<ssize_t>(sizeof(words))) {
      CORRAL_LOG(WARNING) << "Cannot record the registry's write count in " << path_ << ": " << std::strerror(errno);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

class SqliteRegistry : public Registry {
 public:
  SqliteRegistry(sqlite3* db, std::string path) : db_(db), path_(std::move(path)), counter_(path_ + "-seq") {}
  ~SqliteRegistry() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  // Before anything is written: refuses a database that has lost writes
  // it acknowledged (see WriteCounter), keeping the evidence untouched.
  absl::Status CheckForLostWrites() {
    // The WAL of a crashed run stays on disk, with what SQLite made of it.
    int persist = 1;
    sqlite3_file_control(db_, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT value FROM corral_registry WHERE key = 'write_seq'", -1, &stmt, nullptr) ==
        SQLITE_OK) {
      if (sqlite3_step(stmt) == SQLITE_ROW) seq_ = static_cast<uint64_t>(sqlite3_column_int64(stmt, 0));
    }
    sqlite3_finalize(stmt);
    std::optional<uint64_t> acknowledged = counter_.Read();
    if (!acknowledged) {
      CORRAL_LOG(WARNING) << counter_.path() << " is damaged: cannot check the registry for lost writes";
      return absl::OkStatus();
    }
    if (seq_ >= *acknowledged) return absl::OkStatus();
    std::string wal = path_ + "-wal";
    bool has_wal = ::access(wal.c_str(), F_OK) == 0;
    return absl::DataLossError(absl::StrCat("registry ", has_wal ? wal : path_,
                                            " is damaged: it holds the registry's writes up to number ", seq_,
                                            ", but number ", *acknowledged, " was acknowledged (", counter_.path(),
                                            "); restore the work dir from a backup, or remove ", counter_.path(),
                                            " if ", path_, " was restored from one on purpose"));
  }

  absl::Status Init() {
    const char* schema =
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=FULL;"
        "CREATE TABLE IF NOT EXISTS corral_registry (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, info BLOB NOT NULL,"
        "  unreachable_since REAL NOT NULL DEFAULT 0, principal TEXT NOT NULL DEFAULT '',"
        "  secret_digest BLOB NOT NULL DEFAULT x'');"
        "CREATE TABLE IF NOT EXISTS frameworks (id TEXT PRIMARY KEY, info BLOB NOT NULL);"
        "CREATE TABLE IF NOT EXISTS operator_state (name TEXT PRIMARY KEY, value BLOB NOT NULL);";
    if (absl::Status s = Exec(schema); !s.ok()) return s;
    sqlite3_stmt* stmt = Prepare("SELECT value FROM corral_registry WHERE key = 'schema_version'");
    if (stmt == nullptr) return Error("read the schema version of");
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      int version = sqlite3_column_int(stmt, 0);
      sqlite3_reset(stmt);
      if (version == 1) {
        // A registry of an older master: its agents are bound to nothing
        // until they reregister and are issued a secret.
        if (absl::Status s = Exec("BEGIN;"
                                  "ALTER TABLE agents ADD COLUMN principal TEXT NOT NULL DEFAULT '';"
                                  "ALTER TABLE agents ADD COLUMN secret_digest BLOB NOT NULL DEFAULT x'';"
                                  "UPDATE corral_registry SET value = '2' WHERE key = 'schema_version';"
                                  "COMMIT;");
            !s.ok()) {
          Exec("ROLLBACK").IgnoreError();
          return s;
        }
        CORRAL_LOG(INFO) << "Registry " << path_ << " upgraded from schema version 1 to 2";
        version = kSchemaVersion;
      }
      if (version != kSchemaVersion) {
        return absl::FailedPreconditionError(absl::StrCat("registry ", path_, " has schema version ", version,
                                                          "; this master reads version ", kSchemaVersion));
      }
      return absl::OkStatus();
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return Error("read");
    return Exec(absl::StrCat("INSERT INTO corral_registry VALUES ('schema_version', '", kSchemaVersion,
                             "'), ('write_seq', 0)"));
  }

  absl::StatusOr<RegistryState> Recover() override {
    RegistryState state;
    sqlite3_stmt* stmt =
        Prepare("SELECT id, info, unreachable_since, principal, secret_digest FROM agents ORDER BY id");
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
      if (const unsigned char* p = sqlite3_column_text(stmt, 3))
        a.identity.principal = reinterpret_cast<const char*>(p);
      if (const void* d = sqlite3_column_blob(stmt, 4)) {
        a.identity.secret_digest.assign(static_cast<const char*>(d), sqlite3_column_bytes(stmt, 4));
      }
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
        return absl::DataLossError(
            absl::StrCat("registry ", path_, " is corrupt: framework '", id, "' does not decode"));
      }
      state.frameworks.push_back(std::move(info));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return Error("read frameworks from");
    return state;
  }

  absl::Status AdmitAgent(const v1::AgentInfo& info, const AgentIdentity& identity) override {
    sqlite3_stmt* stmt = Prepare(
        "INSERT OR REPLACE INTO agents (id, info, unreachable_since, principal, secret_digest)"
        " VALUES (?1, ?2, 0, ?3, ?4)");
    if (stmt == nullptr) return Error("write to");
    const std::string& id = info.id().value();
    std::string blob = info.SerializeAsString();
    sqlite3_bind_text(stmt, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(stmt, 2, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 3, identity.principal.data(), static_cast<int>(identity.principal.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_blob(stmt, 4, identity.secret_digest.data(), static_cast<int>(identity.secret_digest.size()),
                      SQLITE_TRANSIENT);
    return Step(stmt, "write to");
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
  // One write: the statement and the write count, in one transaction.
  absl::Status Step(sqlite3_stmt* stmt, const char* what) {
    sqlite3_stmt* begin = Prepare("BEGIN IMMEDIATE");
    sqlite3_stmt* count = Prepare(
        "INSERT INTO corral_registry (key, value) VALUES ('write_seq', ?1) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    sqlite3_stmt* commit = Prepare("COMMIT");
    if (begin == nullptr || count == nullptr || commit == nullptr) return Error(what);
    auto run = [](sqlite3_stmt* s) {
      int rc = sqlite3_step(s);
      sqlite3_reset(s);
      return rc;
    };
    if (run(begin) != SQLITE_DONE) {
      sqlite3_clear_bindings(stmt);
      return Error(what);
    }
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    sqlite3_bind_int64(count, 1, static_cast<sqlite3_int64>(seq_ + 1));
    if (rc == SQLITE_DONE) rc = run(count);
    if (rc == SQLITE_DONE) rc = run(commit);
    if (rc != SQLITE_DONE) {
      absl::Status error = Error(what);
      if (!sqlite3_get_autocommit(db_)) Exec("ROLLBACK").IgnoreError();
      return error;
    }
    counter_.Record(++seq_);
    return absl::OkStatus();
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
  WriteCounter counter_;
  uint64_t seq_ = 0;  // writes made so far, as the database counts them
  std::map<std::string, sqlite3_stmt*> statements_;
};

class InMemoryRegistry : public Registry {
 public:
  absl::StatusOr<RegistryState> Recover() override { return RegistryState(); }
  absl::Status AdmitAgent(const v1::AgentInfo&, const AgentIdentity&) override { return absl::OkStatus(); }
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
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open registry ", path, ": ", why));
  }
  sqlite3_busy_timeout(db, 5000);
  auto registry = std::make_unique<SqliteRegistry>(db, path);
  if (absl::Status s = registry->CheckForLostWrites(); !s.ok()) return s;
  if (absl::Status s = registry->Init(); !s.ok()) return s;
  // A damaged file may open and still fail on its first real read.
  {
    sqlite3_stmt* check = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &check, nullptr) == SQLITE_OK) {
      std::string result;
      if (sqlite3_step(check) == SQLITE_ROW) result = reinterpret_cast<const char*>(sqlite3_column_text(check, 0));
      sqlite3_finalize(check);
      if (result != "ok") { return absl::DataLossError(absl::StrCat("registry ", path, " is corrupt: ", result)); }
    }
  }
  return std::unique_ptr<Registry>(std::move(registry));
}

std::unique_ptr<Registry> NewInMemoryRegistry() { return std::make_unique<InMemoryRegistry>(); }

}  // namespace corral
