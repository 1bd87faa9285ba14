// TLS settings as Mesos names them: the daemons' --ssl_* flags, and the
// LIBPROCESS_SSL_* environment that Mesos's daemons, executors and clients
// read. One struct serves a server (its certificate, which clients it
// asks for one) and a client (the CA it trusts, the certificate it shows).
//
// Threading: plain values; TlsFromEnvironment reads the environment and
// may be called from any thread.
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace corral::tls {

struct TlsOptions {
  bool enabled = false;
  // PEM files. A server's certificate (chain) and key; a client's, when the
  // server asks for one. ca_file / ca_dir: whom to trust (empty: the
  // system's trust store).
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  std::string ca_dir;
  // A server asks clients for a certificate and verifies any it gets.
  bool verify_cert = false;
  // A server refuses clients without a verified certificate (implies
  // verify_cert), except, where require_cert_of_local_peers is false,
  // processes on its own machine (an agent's executors, which prove
  // themselves with their container's token).
  bool require_cert = false;
  bool require_cert_of_local_peers = true;
  // A server also serves plain connections on the same port, told apart
  // from TLS by their first byte.
  bool support_downgrade = false;
};

// LIBPROCESS_SSL_ENABLED, _CERT_FILE, _KEY_FILE, _CA_FILE, _CA_DIR,
// _VERIFY_CERT, _REQUIRE_CERT and _SUPPORT_DOWNGRADE (booleans as Mesos
// spells them: true/false, 1/0, yes/no). An unset variable keeps the
// default; a malformed boolean is an error naming the variable.
absl::StatusOr<TlsOptions> TlsFromEnvironment();

// What a server needs: a certificate and a key that exist, a CA where one
// is named. Errors name the flag.
absl::Status ValidateServer(const TlsOptions& options);

// The LIBPROCESS_SSL_* environment a daemon hands the processes it starts
// (an agent's executors) so that they reach it over TLS: enabled, and the
// CA to verify it with (its CA file, or its own certificate where it named
// none). Empty when TLS is off. No key is handed on.
std::map<std::string, std::string> ClientEnvironment(const TlsOptions& server);

// The settings as /flags shows them (ssl_enabled, ssl_cert_file, ...).
void AddTlsFlags(const TlsOptions& options, std::map<std::string, std::string>* flags);

}  // namespace corral::tls
