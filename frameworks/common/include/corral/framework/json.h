// JSON writing shared by the bundled frameworks' REST APIs (RapidJSON), and
// the error body Marathon and Metronome both answer a bad request with.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace corral::framework {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// One invalid field of a request: a JSON pointer ("/run/cpus") and why.
struct FieldError {
  std::string path;
  std::string error;
};

void Str(JsonWriter& w, const std::string& s);
void OptStr(JsonWriter& w, const std::string& s);  // null when empty
void StrList(JsonWriter& w, const std::vector<std::string>& l);
void StrMap(JsonWriter& w, const std::map<std::string, std::string>& m);
inline std::string Text(const rapidjson::StringBuffer& b) { return std::string(b.GetString(), b.GetSize()); }

// {"message": ..., "details": [{"path", "errors": [...]}]}, one entry per path.
std::string ErrorsJson(const std::string& message, const std::vector<FieldError>& errors);
std::string MessageJson(const std::string& message);

// Readers of a parsed body's members: false (and an error naming `path`)
// when the member is there with the wrong type.
bool ReadString(const rapidjson::Value& o, const char* key, std::string* out, std::vector<FieldError>* errors,
                const std::string& path);
bool ReadNumber(const rapidjson::Value& o, const char* key, double* out, std::vector<FieldError>* errors,
                const std::string& path);
bool ReadInt(const rapidjson::Value& o, const char* key, int* out, std::vector<FieldError>* errors,
             const std::string& path);
bool ReadBool(const rapidjson::Value& o, const char* key, bool* out, std::vector<FieldError>* errors,
              const std::string& path);
bool ReadStringList(const rapidjson::Value& o, const char* key, std::vector<std::string>* out,
                    std::vector<FieldError>* errors, const std::string& path);
bool ReadStringMap(const rapidjson::Value& o, const char* key, std::map<std::string, std::string>* out,
                   std::vector<FieldError>* errors, const std::string& path);

}  // namespace corral::framework
