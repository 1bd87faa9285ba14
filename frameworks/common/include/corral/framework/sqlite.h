// SQLite for the bundled frameworks' stores: one connection, WAL journal
// and synchronous=FULL (what a call returned for survives a crash of the
// process or the machine), prepared statements and transactions.
//
// Threading: one thread at a time (the framework's service loop).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace corral::framework {

class SqliteDb;

class Statement {
 public:
  Statement(const SqliteDb& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Statement& Bind(int i, const std::string& s);
  Statement& Bind(int i, int64_t v);
  Statement& Bind(int i, double v);
  int Step();  // SQLITE_ROW, SQLITE_DONE or an error
  // Step() that must finish the statement: an error naming `what` otherwise.
  absl::Status Run(const std::string& what);
  void Reset();
  std::string Text(int col) const;
  int64_t Int(int col) const;
  double Double(int col) const;
  bool IsNull(int col) const;
  absl::Status Error(const std::string& what) const;

 private:
  sqlite3* db_;
  std::string name_;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteDb {
 public:
  // Opens (creating) `path`; `name` prefixes every error ("batch store").
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path, const std::string& name);
  ~SqliteDb();

  absl::Status Exec(const char* sql);
  // fn() inside BEGIN IMMEDIATE .. COMMIT; rolled back when it fails.
  template <typename Fn>
  absl::Status Transaction(Fn fn) {
    if (auto s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    absl::Status s = fn();
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
    return Exec("COMMIT");
  }
  sqlite3* handle() const { return db_; }
  const std::string& name() const { return name_; }

 private:
  SqliteDb(sqlite3* db, std::string name) : db_(db), name_(std::move(name)) {}
  sqlite3* db_;
  std::string name_;
};

}  // namespace corral::framework
