#include "corral/tls/tls_options.h"

#include <sys/stat.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace corral::tls {
namespace {

absl::Status Boolean(const char* name, bool* out) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return absl::OkStatus();
  std::string v = absl::AsciiStrToLower(value);
  if (v == "true" || v == "1" || v == "yes") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "no") {
    *out = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(name, "='", value, "' is not a boolean (true or false)"));
  }
  return absl::OkStatus();
}

void Text(const char* name, std::string* out) {
  const char* value = std::getenv(name);
  if (value != nullptr && *value != '\0') *out = value;
}

absl::Status Readable(const std::string& flag, const std::string& path, bool directory) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return absl::InvalidArgumentError(absl::StrCat(flag, ": no such file ", path));
  if (directory != S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", path, directory ? " is not a directory" : " is not a file"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TlsOptions> TlsFromEnvironment() {
  TlsOptions o;
  for (auto [name, field] :
       {std::pair{"LIBPROCESS_SSL_ENABLED", &o.enabled}, std::pair{"LIBPROCESS_SSL_VERIFY_CERT", &o.verify_cert},
        std::pair{"LIBPROCESS_SSL_REQUIRE_CERT", &o.require_cert},
        std::pair{"LIBPROCESS_SSL_SUPPORT_DOWNGRADE", &o.support_downgrade}}) {
    if (absl::Status st = Boolean(name, field); !st.ok()) return st;
  }
  Text("LIBPROCESS_SSL_CERT_FILE", &o.cert_file);
  Text("LIBPROCESS_SSL_KEY_FILE", &o.key_file);
  Text("LIBPROCESS_SSL_CA_FILE", &o.ca_file);
  Text("LIBPROCESS_SSL_CA_DIR", &o.ca_dir);
  return o;
}

absl::Status ValidateServer(const TlsOptions& o) {
  if (!o.enabled) return absl::OkStatus();
  if (o.cert_file.empty()) return absl::InvalidArgumentError("TLS is on but --ssl_cert_file is not set");
  if (o.key_file.empty()) return absl::InvalidArgumentError("TLS is on but --ssl_key_file is not set");
  for (auto [flag, path] : {std::pair{"--ssl_cert_file", &o.cert_file}, std::pair{"--ssl_key_file", &o.key_file},
                            std::pair{"--ssl_ca_file", &o.ca_file}}) {
    if (!path->empty()) {
      if (absl::Status st = Readable(flag, *path, false); !st.ok()) return st;
    }
  }
  if (!o.ca_dir.empty()) return Readable("--ssl_ca_dir", o.ca_dir, true);
  return absl::OkStatus();
}

std::map<std::string, std::string> ClientEnvironment(const TlsOptions& server) {
  if (!server.enabled) return {};
  std::map<std::string, std::string> env{{"LIBPROCESS_SSL_ENABLED", "true"}};
  if (!server.ca_file.empty()) {
    env["LIBPROCESS_SSL_CA_FILE"] = server.ca_file;
  } else if (!server.ca_dir.empty()) {
    env["LIBPROCESS_SSL_CA_DIR"] = server.ca_dir;
  } else {
    // A self-signed certificate is its own CA.
    env["LIBPROCESS_SSL_CA_FILE"] = server.cert_file;
  }
  return env;
}

void AddTlsFlags(const TlsOptions& o, std::map<std::string, std::string>* flags) {
  auto yes = [](bool b) { return b ? "true" : "false"; };
  auto& f = *flags;
  f["ssl_enabled"] = yes(o.enabled);
  f["ssl_cert_file"] = o.cert_file;
  f["ssl_key_file"] = o.key_file;
  f["ssl_ca_file"] = o.ca_file;
  f["ssl_ca_dir"] = o.ca_dir;
  f["ssl_verify_cert"] = yes(o.verify_cert || o.require_cert);
  f["ssl_require_cert"] = yes(o.require_cert);
  f["ssl_support_downgrade"] = yes(o.support_downgrade);
}

}  // namespace corral::tls
