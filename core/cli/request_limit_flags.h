// The flags of RequestLimits, the same on corral-master and corral-agent:
// include in one daemon's main file only (it defines the flags).
#pragma once

#include <cstdint>
#include <string>

#include "absl/flags/flag.h"
#include "daemon_flags.h"
#include "corral/common/request_limits.h"

ABSL_FLAG(int64_t, max_connections_per_peer, 1024,
          "Connections one address may hold open; more are closed at once (and never more than a quarter of all).");
ABSL_FLAG(int64_t, http_max_body_bytes, 16 << 20, "The largest request body accepted; a larger one is answered 413.");
ABSL_FLAG(int64_t, http_max_header_bytes, 64 << 10,
          "The most bytes of request line and headers accepted; more are answered 431.");
ABSL_FLAG(int64_t, http_max_header_count, 100, "The most header fields a request may have; more are answered 431.");
ABSL_FLAG(int64_t, http_max_json_depth, 64,
          "How deeply objects and arrays may nest in a JSON body; deeper is answered 400 before it is parsed.");
ABSL_FLAG(std::string, http_request_timeout, "30secs",
          "How long a new connection has to send its first request before it is closed.");
ABSL_FLAG(std::string, http_idle_timeout, "30secs",
          "How long a kept-alive connection may idle before and while sending its next request.");

namespace corral::cli {

inline RequestLimits RequestLimitsFromFlags(const std::string& program) {
  auto positive = [&](const char* name, int64_t value) {
    if (value < 1) Die(program, std::string("--") + name + " must be at least 1");
    return static_cast<size_t>(value);
  };
  RequestLimits limits;
  limits.max_connections_per_peer = positive("max_connections_per_peer", absl::GetFlag(FLAGS_max_connections_per_peer));
  limits.max_body_bytes = positive("http_max_body_bytes", absl::GetFlag(FLAGS_http_max_body_bytes));
  limits.max_header_bytes = positive("http_max_header_bytes", absl::GetFlag(FLAGS_http_max_header_bytes));
  if (limits.max_header_bytes > UINT32_MAX) Die(program, "--http_max_header_bytes must be below 4 GiB");
  limits.max_header_count = positive("http_max_header_count", absl::GetFlag(FLAGS_http_max_header_count));
  limits.max_json_depth = positive("http_max_json_depth", absl::GetFlag(FLAGS_http_max_json_depth));
  limits.request_timeout =
      DurationFlag(program, "http_request_timeout", absl::GetFlag(FLAGS_http_request_timeout), false);
  limits.idle_timeout = DurationFlag(program, "http_idle_timeout", absl::GetFlag(FLAGS_http_idle_timeout), false);
  return limits;
}

}  // namespace corral::cli
