// Helpers shared by the corral-master and corral-agent command lines.
#pragma once

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "corral/auth/authorizer.h"
#include "corral/common/duration.h"
#include "corral/common/logging.h"

namespace corral::cli {

// One clear line on stderr, then exit 1.
[[noreturn]] inline void Die(const std::string& program, const std::string& msg) {
  std::cerr << program << ": " << msg << std::endl;
  std::exit(1);
}

inline double DurationFlag(const std::string& program, const std::string& flag, const std::string& value,
                           bool allow_zero) {
  auto d = ParseDurationSeconds(value);
  if (!d.ok()) Die(program, "--" + flag + ": " + std::string(d.status().message()));
  if (!allow_zero && *d <= 0) Die(program, "--" + flag + " must be greater than zero");
  return *d;
}

// --help lists the flags defined in `main_file` and the shared flag headers
// of core/cli (not absl's own).
inline void SetUsage(const char* main_file, const char* usage) {
  static std::string file = main_file;
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [](absl::string_view f) {
    return absl::EndsWith(f, file) || absl::EndsWith(f, "core/cli/request_limit_flags.h") ||
           absl::EndsWith(f, "core/cli/tls_flags.h");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  // "Flags from frameworks/batch/main.cc", not from where it was built.
  config.normalize_filename = [](absl::string_view f) -> std::string {
    for (absl::string_view root : {"/core/", "/frameworks/", "/bench/"}) {
      if (auto at = f.rfind(root); at != absl::string_view::npos) return std::string(f.substr(at + 1));
    }
    return std::string(f);
  };
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(usage);
}

// Whether `ip` reaches only this machine.
inline bool IsLoopback(const std::string& ip) {
  return ip == "localhost" || ip == "::1" || absl::StartsWith(ip, "127.");
}

// Beyond loopback, a daemon that lets anyone in must be told so: the
// refusal names what is missing, --insecure goes on with a warning.
inline void CheckExposure(const std::string& program, const std::string& ip, bool guarded, bool insecure,
                          const std::string& missing) {
  if (IsLoopback(ip) || guarded) return;
  if (!insecure) {
    Die(program, "refusing to listen on " + ip + " without authentication (" + missing +
                     "): anyone who reaches it could run tasks and read their secrets. Configure authentication "
                     "(docs/security.md) or pass --insecure to accept that.");
  }
  CORRAL_LOG(WARNING) << "Listening on " << ip << " without authentication (" << missing
                      << ", --insecure): anyone who reaches this address can run tasks and read their secrets";
}

inline void SetLogLevelFlag(const std::string& program, const std::string& value) {
  LogLevel level;
  if (!ParseLogLevel(value, &level)) Die(program, "--log_level must be one of debug, info, warning, error");
  SetLogLevel(level);
}

// --audit_log and --acls, as both daemons take them: the audit log opened,
// the ACLs read (null: none given). A bad value stops the daemon.
inline std::shared_ptr<const auth::Authorizer> AuthorizationFlags(const std::string& program, const std::string& acls,
                                                                  const std::string& audit_log) {
  if (!audit_log.empty()) {
    if (absl::Status st = auth::SetAuditLog(audit_log); !st.ok())
      Die(program, "--audit_log: " + std::string(st.message()));
  }
  if (acls.empty()) return nullptr;
  auto loaded = auth::Authorizer::Load(acls);
  if (!loaded.ok()) Die(program, "--acls: " + std::string(loaded.status().message()));
  CORRAL_LOG(INFO) << "Authorizing by the ACLs in " << acls;
  return *loaded;
}

}  // namespace corral::cli
