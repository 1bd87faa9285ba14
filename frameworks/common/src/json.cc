#include "corral/framework/json.h"

#include <cmath>

namespace corral::framework {

void Str(JsonWriter& w, const std::string& s) {
  // RapidJSON escapes what JSON needs; bodies are parsed as UTF-8, so what
  // comes from them is valid.
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void OptStr(JsonWriter& w, const std::string& s) {
  if (s.empty()) {
    w.Null();
  } else {
    Str(w, s);
  }
}

void StrList(JsonWriter& w, const std::vector<std::string>& l) {
  w.StartArray();
  for (const auto& s : l) Str(w, s);
  w.EndArray();
}

void StrMap(JsonWriter& w, const std::map<std::string, std::string>& m) {
  w.StartObject();
  for (const auto& [k, v] : m) {
    Str(w, k);
    Str(w, v);
  }
  w.EndObject();
}

std::string ErrorsJson(const std::string& message, const std::vector<FieldError>& errors) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  w.Key("message");
  Str(w, message);
  w.Key("details");
  w.StartArray();
  std::map<std::string, std::vector<std::string>> by_path;
  std::vector<std::string> order;
  for (const auto& e : errors) {
    if (!by_path.count(e.path)) order.push_back(e.path);
    by_path[e.path].push_back(e.error);
  }
  for (const auto& p : order) {
    w.StartObject();
    w.Key("path");
    Str(w, p);
    w.Key("errors");
    StrList(w, by_path[p]);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return Text(b);
}

std::string MessageJson(const std::string& message) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  w.Key("message");
  Str(w, message);
  w.EndObject();
  return Text(b);
}

namespace {

const rapidjson::Value* Member(const rapidjson::Value& o, const char* key) {
  if (!o.IsObject()) return nullptr;
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

bool Wrong(std::vector<FieldError>* errors, const std::string& path, const char* key, const char* what) {
  errors->push_back({path + "/" + key, std::string("must be ") + what});
  return false;
}

}  // namespace

bool ReadString(const rapidjson::Value& o, const char* key, std::string* out, std::vector<FieldError>* errors,
                const std::string& path) {
  const auto* v = Member(o, key);
  if (v == nullptr) return true;
  if (!v->IsString()) return Wrong(errors, path, key, "a string");
  out->assign(v->GetString(), v->GetStringLength());
  return true;
}

bool ReadNumber(const rapidjson::Value& o, const char* key, double* out, std::vector<FieldError>* errors,
                const std::string& path) {
  const auto* v = Member(o, key);
  if (v == nullptr) return true;
  if (!v->IsNumber() || !std::isfinite(v->GetDouble())) return Wrong(errors, path, key, "a number");
  *out = v->GetDouble();
  return true;
}

bool ReadInt(const rapidjson::Value& o, const char* key, int* out, std::vector<FieldError>* errors,
             const std::string& path) {
  const auto* v = Member(o, key);
  if (v == nullptr) return true;
  if (!v->IsInt()) return Wrong(errors, path, key, "an integer");
  *out = v->GetInt();
  return true;
}

bool ReadBool(const rapidjson::Value& o, const char* key, bool* out, std::vector<FieldError>* errors,
              const std::string& path) {
  const auto* v = Member(o, key);
  if (v == nullptr) return true;
  if (!v->IsBool()) return Wrong(errors, path, key, "true or false");
  *out = v->GetBool();
  return true;
}

bool ReadStringList(const rapidjson::Value& o, const char* key, std::vector<std::string>* out,
                    std::vector<FieldError>* errors, const std::string& path) {
  const auto* v = Member(o, key);
  if (v == nullptr) return true;
  if (!v->IsArray()) return Wrong(errors, path, key, "a list of strings");
  out->clear();
  for (const auto& e : v->GetArray()) {
    if (!e.IsString()) return Wrong(errors, path, key, "a list of strings");
    out->emplace_back(e.GetString(), e.GetStringLength());
  }
  return true;
}

bool ReadStringMap(const rapidjson::Value& o, const char* key, std::map<std::string, std::string>* out,
                   std::vector<FieldError>* errors, const std::string& path) {
  const auto* v = Member(o, key);
  if (v == nullptr) return true;
  if (!v->IsObject()) return Wrong(errors, path, key, "an object of strings");
  out->clear();
  for (const auto& m : v->GetObject()) {
    if (!m.value.IsString()) return Wrong(errors, path + "/" + key, m.name.GetString(), "a string");
    (*out)[m.name.GetString()] = std::string(m.value.GetString(), m.value.GetStringLength());
  }
  return true;
}

}  // namespace corral::framework
