// 64-bit integers as Mesos writes them in JSON: numbers.
//
// protobuf's JSON mapping writes int64, uint64 (and their fixed and zigzag
// kinds) as strings, `"begin": "31000"`; Mesos writes `"begin": 31000`, and
// clients written against Mesos do arithmetic on them (port ranges, byte
// counts, nanoseconds). Unquote64 rewrites protobuf's JSON of a message of
// type `type` so that those fields are numbers, leaving every other value as
// protobuf wrote it. Well-known types (google.protobuf.Duration, ...) keep
// protobuf's forms.
//
// Threading: pure; call from any thread.
#pragma once

#include <string>

#include "google/protobuf/descriptor.h"

namespace corral::http {

// `json` must be protobuf's JSON of a `type` (preserve_proto_field_names);
// anything that does not parse is returned unchanged.
std::string Unquote64(const std::string& json, const google::protobuf::Descriptor* type);

}  // namespace corral::http
