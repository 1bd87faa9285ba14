// Mesos's JSON shapes of resources, attributes, labels and tasks, as its
// state endpoints (/master/state, the agent's /state) render them, written
// straight into a RapidJSON writer.
#pragma once

#include <string>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "corral/v1/corral.pb.h"

namespace corral::mesos_json {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using ResourceList = google::protobuf::RepeatedPtrField<v1::Resource>;

// `text` with every byte that is not part of valid UTF-8 replaced by the
// character of the same number (U+0080..U+00FF, as a Latin-1 reading of
// it): JSON must be UTF-8, and what tasks write need not be.
std::string ValidUtf8(const std::string& text);
bool IsValidUtf8(const std::string& text);

// A string, always written as valid UTF-8 (see ValidUtf8).
inline void Str(Writer& w, const std::string& s) {
  if (IsValidUtf8(s)) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  } else {
    std::string fixed = ValidUtf8(s);
    w.String(fixed.data(), static_cast<rapidjson::SizeType>(fixed.size()));
  }
}
inline void Key(Writer& w, const char* k) { w.Key(k); }
inline std::string Done(rapidjson::StringBuffer& buffer) { return std::string(buffer.GetString(), buffer.GetSize()); }

// "[a-b, c-d]"
std::string RangesText(const v1::Value::Ranges& ranges);
// Mesos's model(Resources): cpus, gpus, mem and disk always present, other
// scalars by name, ranges as "[a-b, c-d]", sets as "{a,b}"; only those
// `keep` accepts, when given.
void ResourcesJson(Writer& w, const ResourceList& resources, bool (*keep)(const v1::Resource&) = nullptr);
bool Unreserved(const v1::Resource& r);
void Attributes(Writer& w, const google::protobuf::RepeatedPtrField<v1::Attribute>& attributes);
void Labels(Writer& w, const v1::Labels& labels);
// The role of a task's resources ("*" when none says).
std::string RoleOf(const v1::Task& task);
// One task as in /master/state's "tasks" and the agent's /state.
void Task(Writer& w, const v1::Task& t);

}  // namespace corral::mesos_json
