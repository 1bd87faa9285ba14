// The --ssl_* flags, the same on corral-master and corral-agent: include in
// one daemon's main file only (it defines the flags). Each defaults to its
// LIBPROCESS_SSL_* variable, as Mesos's daemons read them.
#pragma once

#include <string>

#include "absl/flags/flag.h"
#include "daemon_flags.h"
#include "corral/tls/tls_options.h"

ABSL_FLAG(std::string, ssl_cert_file, "",
          "PEM certificate (chain) this daemon serves TLS with, and shows where a peer asks for one; setting it "
          "turns TLS on (as does LIBPROCESS_SSL_ENABLED=true). Default: LIBPROCESS_SSL_CERT_FILE.");
ABSL_FLAG(std::string, ssl_key_file, "", "PEM private key of --ssl_cert_file. Default: LIBPROCESS_SSL_KEY_FILE.");
ABSL_FLAG(std::string, ssl_ca_file, "",
          "PEM CA certificates that client certificates, and the master's certificate, are verified against "
          "(empty: the system's). Default: LIBPROCESS_SSL_CA_FILE.");
ABSL_FLAG(std::string, ssl_ca_dir, "",
          "A directory of PEM CA certificates, beside --ssl_ca_file. Default: "
          "LIBPROCESS_SSL_CA_DIR.");
ABSL_FLAG(bool, ssl_verify_cert, false,
          "Ask TLS clients for a certificate and refuse one that does not verify. Default: "
          "LIBPROCESS_SSL_VERIFY_CERT.");
ABSL_FLAG(bool, ssl_require_cert, false,
          "Refuse TLS clients without a verified certificate (an agent exempts its own machine's executors, which "
          "show a token). Default: LIBPROCESS_SSL_REQUIRE_CERT.");
ABSL_FLAG(bool, ssl_support_downgrade, false,
          "Serve plain HTTP and gRPC on the TLS port too (told apart by the first byte). Default: "
          "LIBPROCESS_SSL_SUPPORT_DOWNGRADE.");

namespace corral::cli {

// The environment's settings, overridden by each flag given.
inline tls::TlsOptions TlsFromFlags(const std::string& program) {
  auto env = tls::TlsFromEnvironment();
  if (!env.ok()) Die(program, std::string(env.status().message()));
  tls::TlsOptions o = *env;
  auto text = [](const absl::Flag<std::string>& flag, std::string* field) {
    std::string value = absl::GetFlag(flag);
    if (!value.empty()) *field = value;
  };
  text(FLAGS_ssl_cert_file, &o.cert_file);
  text(FLAGS_ssl_key_file, &o.key_file);
  text(FLAGS_ssl_ca_file, &o.ca_file);
  text(FLAGS_ssl_ca_dir, &o.ca_dir);
  o.verify_cert = o.verify_cert || absl::GetFlag(FLAGS_ssl_verify_cert);
  o.require_cert = o.require_cert || absl::GetFlag(FLAGS_ssl_require_cert);
  o.support_downgrade = o.support_downgrade || absl::GetFlag(FLAGS_ssl_support_downgrade);
  o.enabled = o.enabled || !absl::GetFlag(FLAGS_ssl_cert_file).empty();
  if (!o.enabled && (!o.key_file.empty() || o.verify_cert || o.require_cert || o.support_downgrade)) {
    Die(program, "TLS flags were given without --ssl_cert_file (or LIBPROCESS_SSL_ENABLED=true)");
  }
  if (absl::Status st = tls::ValidateServer(o); !st.ok()) Die(program, std::string(st.message()));
  return o;
}

}  // namespace corral::cli
