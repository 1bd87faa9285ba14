#include "corral/http/json_numbers.h"

#include <vector>

#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "absl/strings/match.h"

namespace corral::http {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

bool Is64(const FieldDescriptor* f) {
  if (f == nullptr) return false;
  switch (f->type()) {
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_SINT64:
    case FieldDescriptor::TYPE_FIXED64:
    case FieldDescriptor::TYPE_SFIXED64: return true;
    default: return false;
  }
}

// Messages whose JSON form is not an object of their fields.
bool IsWellKnown(const Descriptor* d) { return absl::StartsWith(d->file()->name(), "google/protobuf/"); }

bool IsInteger(const char* s, rapidjson::SizeType n) {
  rapidjson::SizeType i = (n > 0 && s[0] == '-') ? 1 : 0;
  if (i == n) return false;
  for (; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// Follows the schema alongside the SAX events: each object on the stack is
// a message (its fields by name), a map (every value of the map's value
// field) or opaque (a well-known type or an unknown key: copied as is).
class Rewriter : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Rewriter> {
 public:
  Rewriter(rapidjson::Writer<rapidjson::StringBuffer>* w, const Descriptor* root) : w_(w), root_(root) {}

  bool Null() { return Value(w_->Null()); }
  bool Bool(bool b) { return Value(w_->Bool(b)); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return Value(w_->RawValue(s, n, rapidjson::kNumberType));
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (Is64(Slot()) && IsInteger(s, n)) return Value(w_->RawValue(s, n, rapidjson::kNumberType));
    return Value(w_->String(s, n));
  }
  bool StartObject() {
    Frame f;
    if (stack_.empty()) {
      f.message = root_;
    } else if (const FieldDescriptor* field = Slot(); field != nullptr) {
      if (field->is_map()) {
        f.map_value = field->message_type()->FindFieldByName("value");
      } else if (field->type() == FieldDescriptor::TYPE_MESSAGE && !IsWellKnown(field->message_type())) {
        f.message = field->message_type();
      }
    }
    stack_.push_back(f);
    return w_->StartObject();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    Frame& f = stack_.back();
    if (f.message != nullptr) {
      f.key = f.message->FindFieldByName(std::string(s, n));
    } else {
      f.key = f.map_value;
    }
    return w_->Key(s, n);
  }
  bool EndObject(rapidjson::SizeType n) {
    stack_.pop_back();
    return Value(w_->EndObject(n));
  }
  bool StartArray() {
    Frame f;
    f.array = true;
    f.key = Slot();
    stack_.push_back(f);
    return w_->StartArray();
  }
  bool EndArray(rapidjson::SizeType n) {
    stack_.pop_back();
    return Value(w_->EndArray(n));
  }

 private:
  struct Frame {
    const Descriptor* message = nullptr;
    const FieldDescriptor* map_value = nullptr;
    const FieldDescriptor* key = nullptr;  // the field the next value is of
    bool array = false;                    // elements are all of `key`
  };
  // The field the value about to be read belongs to.
  const FieldDescriptor* Slot() const { return stack_.empty() ? nullptr : stack_.back().key; }
  // After a value in an object, the next key names the next field.
  bool Value(bool ok) {
    if (!stack_.empty() && !stack_.back().array) stack_.back().key = nullptr;
    return ok;
  }

  rapidjson::Writer<rapidjson::StringBuffer>* w_;
  const Descriptor* root_;
  std::vector<Frame> stack_;
};

}  // namespace

std::string Unquote64(const std::string& json, const Descriptor* type) {
  rapidjson::StringBuffer buffer;
  buffer.Reserve(json.size());
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  Rewriter rewriter(&writer, type);
  rapidjson::Reader reader;
  rapidjson::StringStream in(json.c_str());
  if (reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(in, rewriter).IsError()) return json;
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace corral::http
