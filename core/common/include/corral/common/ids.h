// Identifiers: random UUIDs (status updates, offers) and readable IDs.
#pragma once

#include <string>

namespace corral {

// 16 random bytes (RFC 4122 version 4).
std::string NewUuidBytes();
// Canonical 36-character text form of 16 UUID bytes.
std::string UuidToString(const std::string& bytes);
// A new random ID as text, e.g. for agent and framework IDs: "<uuid>-S0".
std::string NewIdString();
// Seconds since the epoch as a double (TaskStatus.timestamp).
double NowSeconds();

}  // namespace corral
