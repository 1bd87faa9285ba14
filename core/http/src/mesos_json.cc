#include "corral/http/mesos_json.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace corral::mesos_json {

namespace {

// The length of the valid UTF-8 sequence at text[i], or 0 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceAt(const std::string& text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  unsigned char c1 = byte(i + 1);
  if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
  if (c == 0xED && c1 > 0x9F) return 0;  // surrogates
  if (c == 0xF0 && c1 < 0x90) return 0;  // overlong
  if (c == 0xF4 && c1 > 0x8F) return 0;  // above U+10FFFF
  return n;
}

}  // namespace

bool IsValidUtf8(const std::string& text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = Utf8SequenceAt(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string ValidUtf8(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (size_t i = 0; i < text.size();) {
    size_t n = Utf8SequenceAt(text, i);
    if (n > 0) {
      out.append(text, i, n);
      i += n;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(text[i++]);
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
  return out;
}

std::string RangesText(const v1::Value::Ranges& ranges) {
  std::vector<std::string> parts;
  for (const auto& r : ranges.range()) parts.push_back(absl::StrCat(r.begin(), "-", r.end()));
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

// Called for every task of /master/state, so it allocates only for unusual
// resources.
void ResourcesJson(Writer& w, const ResourceList& resources, bool (*keep)(const v1::Resource&)) {
  static const char* const kNames[] = {"cpus", "disk", "gpus", "mem"};  // sorted, as Mesos prints them
  double common[4] = {0, 0, 0, 0};
  std::vector<std::pair<std::string, double>> scalars;
  std::vector<std::pair<std::string, std::string>> texts;
  for (const v1::Resource& r : resources) {
    if (keep != nullptr && !keep(r)) continue;
    switch (r.type()) {
      case v1::Value::SCALAR: {
        int i = 0;
        while (i < 4 && r.name() != kNames[i]) ++i;
        if (i < 4) {
          common[i] += r.scalar().value();
          break;
        }
        auto it = std::find_if(scalars.begin(), scalars.end(), [&](const auto& p) { return p.first == r.name(); });
        if (it == scalars.end())
          scalars.emplace_back(r.name(), r.scalar().value());
        else
          it->second += r.scalar().value();
        break;
      }
      case v1::Value::RANGES: {
        auto it = std::find_if(texts.begin(), texts.end(), [&](const auto& p) { return p.first == r.name(); });
        std::string add = RangesText(r.ranges());
        if (it == texts.end())
          texts.emplace_back(r.name(), add);
        else
          it->second = it->second.substr(0, it->second.size() - 1) + ", " + add.substr(1);
        break;
      }
      case v1::Value::SET:
        texts.emplace_back(r.name(), absl::StrCat("{", absl::StrJoin(r.set().item(), ","), "}"));
        break;
      default: break;
    }
  }
  w.StartObject();
  for (int i = 0; i < 4; ++i) {
    w.Key(kNames[i]);
    w.Double(common[i]);
  }
  for (const auto& [name, value] : scalars) {
    Str(w, name);
    w.Double(value);
  }
  for (const auto& [name, text] : texts) {
    Str(w, name);
    Str(w, text);
  }
  w.EndObject();
}

bool Unreserved(const v1::Resource& r) { return r.reservations_size() == 0 && !r.has_reservation(); }

void Attributes(Writer& w, const google::protobuf::RepeatedPtrField<v1::Attribute>& attributes) {
  w.StartObject();
  for (const v1::Attribute& a : attributes) {
    Str(w, a.name());
    switch (a.type()) {
      case v1::Value::SCALAR: w.Double(a.scalar().value()); break;
      case v1::Value::RANGES: Str(w, RangesText(a.ranges())); break;
      case v1::Value::SET: Str(w, absl::StrCat("{", absl::StrJoin(a.set().item(), ","), "}")); break;
      default: Str(w, a.text().value()); break;
    }
  }
  w.EndObject();
}

void Labels(Writer& w, const v1::Labels& labels) {
  w.StartArray();
  for (const auto& l : labels.labels()) {
    w.StartObject();
    Key(w, "key");
    Str(w, l.key());
    if (l.has_value()) {
      Key(w, "value");
      Str(w, l.value());
    }
    w.EndObject();
  }
  w.EndArray();
}

std::string RoleOf(const v1::Task& task) {
  for (const auto& r : task.resources()) {
    if (r.has_allocation_info()) return r.allocation_info().role();
  }
  return "*";
}

void Task(Writer& w, const v1::Task& t) {
  w.StartObject();
  Key(w, "id");
  Str(w, t.task_id().value());
  Key(w, "name");
  Str(w, t.name());
  Key(w, "framework_id");
  Str(w, t.framework_id().value());
  Key(w, "executor_id");
  Str(w, t.executor_id().value());
  Key(w, "slave_id");
  Str(w, t.agent_id().value());
  Key(w, "state");
  Str(w, v1::TaskState_Name(t.state()));
  Key(w, "resources");
  ResourcesJson(w, t.resources());
  Key(w, "role");
  Str(w, RoleOf(t));
  Key(w, "statuses");
  w.StartArray();
  for (const v1::TaskStatus& s : t.statuses()) {
    w.StartObject();
    Key(w, "state");
    Str(w, v1::TaskState_Name(s.state()));
    Key(w, "timestamp");
    w.Double(s.timestamp());
    if (s.has_healthy()) {
      Key(w, "healthy");
      w.Bool(s.healthy());
    }
    w.EndObject();
  }
  w.EndArray();
  if (t.has_labels()) {
    Key(w, "labels");
    Labels(w, t.labels());
  }
  w.EndObject();
}

}  // namespace corral::mesos_json
