// Compact resource values and their arithmetic.
//
// The allocator, the master's launch path and the agent work on these value
// types; protobuf `Resource` messages are converted at the edges (FromProto /
// ToProto). Scalars are fixed point with three decimal digits, as Mesos
// defines them, so that repeated addition and subtraction never drift.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_field.h"
#include "corral/v1/corral.pb.h"

namespace corral {

inline constexpr char kUnreservedRole[] = "*";

// Fixed-point scalar: value * 1000, rounded.
using Milli = int64_t;
Milli ToMilli(double value);
double FromMilli(Milli value);

struct Range {
  uint64_t begin = 0;
  uint64_t end = 0;  // inclusive
  bool operator==(const Range& o) const { return begin == o.begin && end == o.end; }
};

enum class ResourceKind : uint8_t { kScalar, kRanges, kSet };

// Principals of reservations, interned: the index of a name (0 for ""), and
// the name of an index. Thread-safe; names are never forgotten.
uint32_t PrincipalIndex(const std::string& name);
const std::string& Principal(uint32_t index);

// One named resource with one reservation role.
struct ResourceItem {
  std::string name;
  ResourceKind kind = ResourceKind::kScalar;
  // A reservation an operator made at run time (RESERVE_RESOURCES), rather
  // than one in the agent's --resources.
  bool dynamic = false;
  // Who made it, as an index into the process's principals (Principal()):
  // a string here would make every copy in the allocator dearer. 0: none.
  // (kind, dynamic and principal share the 8 bytes before `role`.)
  uint32_t principal = 0;
  std::string role = kUnreservedRole;  // "*" = unreserved
  Milli scalar = 0;
  std::vector<Range> ranges;     // sorted, non-overlapping, coalesced
  std::vector<std::string> set;  // sorted, unique

  bool Empty() const;
  bool SameKey(const ResourceItem& o) const {
    return kind == o.kind && name == o.name && role == o.role && dynamic == o.dynamic && principal == o.principal;
  }
};

class Resources {
 public:
  Resources() = default;

  // Mesos text syntax: "cpus:4;mem:8192;ports:[31000-32000];disk(role):10".
  static absl::StatusOr<Resources> Parse(const std::string& text);
  // Validates every item (names, types, finite non-negative scalars,
  // well-formed and non-overlapping ranges, unique set items).
  static absl::StatusOr<Resources> FromProto(const google::protobuf::RepeatedPtrField<v1::Resource>& resources);
  static absl::StatusOr<Resources> FromProto(const v1::Resource& resource);

  // Writes Mesos's pre-refinement format (`role`), plus `reservations` for
  // reserved resources. `allocation_role` sets allocation_info when non-empty.
  void ToProto(google::protobuf::RepeatedPtrField<v1::Resource>* out, const std::string& allocation_role = "") const;

  Resources& operator+=(const Resources& other);
  Resources& operator-=(const Resources& other);  // saturates at zero
  Resources operator+(const Resources& o) const {
    Resources r = *this;
    r += o;
    return r;
  }
  Resources operator-(const Resources& o) const {
    Resources r = *this;
    r -= o;
    return r;
  }
  bool operator==(const Resources& other) const;
  bool operator!=(const Resources& other) const { return !(*this == other); }

  bool Contains(const Resources& other) const;
  bool Empty() const { return items_.empty(); }

  // Sum of scalar `name` across roles.
  Milli Scalar(const std::string& name) const;
  // Unreserved resources plus those reserved for `role`.
  Resources AllocatableTo(const std::string& role) const;
  Resources Unreserved() const;
  // The resources with every reservation dropped (for quantities).
  Resources Flattened() const;
  // Only the dynamically reserved ones.
  Resources DynamicallyReserved() const;

  const std::vector<ResourceItem>& items() const { return items_; }
  void Add(const ResourceItem& item);

  std::string ToString() const;

 private:
  std::vector<ResourceItem> items_;
};

// Scalar quantities by name, for shares and quotas (no roles, no ranges:
// ranges and sets count as the number of elements they hold).
class Quantities {
 public:
  Quantities() = default;
  static Quantities Of(const Resources& resources);
  static absl::StatusOr<Quantities> Parse(const std::string& text);  // "cpus:4;mem:1024"

  Milli Get(const std::string& name) const;
  void Set(const std::string& name, Milli value);
  Quantities& operator+=(const Quantities& o);
  Quantities& operator-=(const Quantities& o);  // saturates at zero
  bool Empty() const { return entries_.empty(); }
  // True when every entry here is <= the same entry in `o`.
  bool FitsIn(const Quantities& o) const;
  const std::vector<std::pair<std::string, Milli>>& entries() const { return entries_; }
  std::string ToString() const;

 private:
  std::vector<std::pair<std::string, Milli>> entries_;  // sorted by name
};

}  // namespace corral
