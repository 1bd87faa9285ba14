// What a daemon's HTTP server (the port it shares with gRPC) accepts of a
// client, so that bad or hostile input stays harmless: the master's and the
// agent's --max_* and --*_timeout flags (docs/operations.md#limits).
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"

namespace corral {

struct RequestLimits {
  size_t max_body_bytes = 16 << 20;    // a larger body is answered 413
  size_t max_header_bytes = 64 << 10;  // request line and headers together; more: 431
  size_t max_header_count = 100;       // more header fields: 431
  // Nesting of objects and arrays in a JSON body; deeper: 400, before any
  // parser sees it.
  size_t max_json_depth = 64;
  // Seconds a new connection has to send its first request (one that sends
  // nothing is closed after this).
  double request_timeout = 30;
  // Seconds a kept-alive connection may idle before and while sending its
  // next request. Streams (subscriptions) have no timeout.
  double idle_timeout = 30;
  // Connections from one address, and never more than a quarter of all.
  size_t max_connections_per_peer = 1024;
};

// The limits as /flags shows them, under their flags' names.
inline void AddLimitFlags(const RequestLimits& limits, std::map<std::string, std::string>* flags) {
  auto& f = *flags;
  f["max_connections_per_peer"] = std::to_string(limits.max_connections_per_peer);
  f["http_max_body_bytes"] = std::to_string(limits.max_body_bytes);
  f["http_max_header_bytes"] = std::to_string(limits.max_header_bytes);
  f["http_max_header_count"] = std::to_string(limits.max_header_count);
  f["http_max_json_depth"] = std::to_string(limits.max_json_depth);
  f["http_request_timeout"] = absl::StrCat(limits.request_timeout, "secs");
  f["http_idle_timeout"] = absl::StrCat(limits.idle_timeout, "secs");
}

}  // namespace corral
