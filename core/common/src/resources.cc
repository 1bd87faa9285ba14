#include "corral/common/resources.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace corral {
namespace {

// Largest scalar we accept: keeps milli arithmetic far from overflow.
constexpr double kMaxScalar = 1e15;

void NormalizeRanges(std::vector<Range>* ranges) {
  std::sort(ranges->begin(), ranges->end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  std::vector<Range> out;
  for (const Range& r : *ranges) {
    if (!out.empty() && r.begin <= out.back().end + 1) {
      out.back().end = std::max(out.back().end, r.end);
    } else {
      out.push_back(r);
    }
  }
  *ranges = std::move(out);
}

std::vector<Range> SubtractRanges(const std::vector<Range>& a, const std::vector<Range>& b) {
  std::vector<Range> out;
  size_t j = 0;
  for (Range r : a) {
    while (j < b.size() && b[j].end < r.begin) ++j;
    size_t k = j;
    bool alive = true;
    while (k < b.size() && b[k].begin <= r.end) {
      if (b[k].begin > r.begin) out.push_back({r.begin, b[k].begin - 1});
      if (b[k].end >= r.end) {
        alive = false;
        break;
      }
      r.begin = b[k].end + 1;
      ++k;
    }
    if (alive) out.push_back(r);
  }
  return out;
}

bool RangesContain(const std::vector<Range>& a, const std::vector<Range>& b) {
  size_t i = 0;
  for (const Range& r : b) {
    while (i < a.size() && a[i].end < r.begin) ++i;
    if (i == a.size() || a[i].begin > r.begin || a[i].end < r.end) return false;
  }
  return true;
}

uint64_t RangesCount(const std::vector<Range>& ranges) {
  uint64_t n = 0;
  for (const Range& r : ranges) n += r.end - r.begin + 1;
  return n;
}

bool ValidName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/')) {
      return false;
    }
  }
  return true;
}

absl::Status ValidRole(const std::string& role) {
  if (role == kUnreservedRole) return absl::OkStatus();
  if (role.empty() || role == "." || role == ".." || role[0] == '-' ||
      role.find_first_of(" \t\n/\\") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("invalid role '", role, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Milli> ScalarToMilli(const std::string& name, double v) {
  if (std::isnan(v)) return absl::InvalidArgumentError(absl::StrCat("resource '", name, "': scalar is NaN"));
  if (std::isinf(v)) return absl::InvalidArgumentError(absl::StrCat("resource '", name, "': scalar is infinite"));
  if (v < 0) return absl::InvalidArgumentError(absl::StrCat("resource '", name, "': scalar is negative (", v, ")"));
  if (v > kMaxScalar)
    return absl::InvalidArgumentError(absl::StrCat("resource '", name, "': scalar is too large (", v, ")"));
  return ToMilli(v);
}

}  // namespace

Milli ToMilli(double value) { return static_cast<Milli>(std::llround(value * 1000.0)); }
double FromMilli(Milli value) { return static_cast<double>(value) / 1000.0; }

bool ResourceItem::Empty() const {
  switch (kind) {
    case ResourceKind::kScalar: return scalar <= 0;
    case ResourceKind::kRanges: return ranges.empty();
    case ResourceKind::kSet: return set.empty();
  }
  return true;
}

void Resources::Add(const ResourceItem& item) {
  if (item.Empty()) return;
  for (ResourceItem& mine : items_) {
    if (!mine.SameKey(item)) continue;
    switch (item.kind) {
      case ResourceKind::kScalar: mine.scalar += item.scalar; break;
      case ResourceKind::kRanges:
        mine.ranges.insert(mine.ranges.end(), item.ranges.begin(), item.ranges.end());
        NormalizeRanges(&mine.ranges);
        break;
      case ResourceKind::kSet: {
        std::vector<std::string> merged;
        std::set_union(mine.set.begin(), mine.set.end(), item.set.begin(), item.set.end(), std::back_inserter(merged));
        mine.set = std::move(merged);
        break;
      }
    }
    return;
  }
  items_.push_back(item);
}

Resources& Resources::operator+=(const Resources& other) {
  for (const ResourceItem& item : other.items_) Add(item);
  return *this;
}

Resources& Resources::operator-=(const Resources& other) {
  for (const ResourceItem& item : other.items_) {
    for (auto it = items_.begin(); it != items_.end(); ++it) {
      if (!it->SameKey(item)) continue;
      switch (item.kind) {
        case ResourceKind::kScalar: it->scalar = std::max<Milli>(0, it->scalar - item.scalar); break;
        case ResourceKind::kRanges: it->ranges = SubtractRanges(it->ranges, item.ranges); break;
        case ResourceKind::kSet: {
          std::vector<std::string> left;
          std::set_difference(it->set.begin(), it->set.end(), item.set.begin(), item.set.end(),
                              std::back_inserter(left));
          it->set = std::move(left);
          break;
        }
      }
      if (it->Empty()) items_.erase(it);
      break;
    }
  }
  return *this;
}

bool Resources::Contains(const Resources& other) const {
  for (const ResourceItem& want : other.items_) {
    const ResourceItem* have = nullptr;
    for (const ResourceItem& mine : items_) {
      if (mine.SameKey(want)) {
        have = &mine;
        break;
      }
    }
    if (have == nullptr) return false;
    switch (want.kind) {
      case ResourceKind::kScalar:
        if (have->scalar < want.scalar) return false;
        break;
      case ResourceKind::kRanges:
        if (!RangesContain(have->ranges, want.ranges)) return false;
        break;
      case ResourceKind::kSet:
        if (!std::includes(have->set.begin(), have->set.end(), want.set.begin(), want.set.end())) return false;
        break;
    }
  }
  return true;
}

bool Resources::operator==(const Resources& other) const { return Contains(other) && other.Contains(*this); }

Milli Resources::Scalar(const std::string& name) const {
  Milli total = 0;
  for (const ResourceItem& item : items_) {
    if (item.kind == ResourceKind::kScalar && item.name == name) total += item.scalar;
  }
  return total;
}

Resources Resources::AllocatableTo(const std::string& role) const {
  Resources out;
  for (const ResourceItem& item : items_) {
    if (item.role == kUnreservedRole || item.role == role) out.items_.push_back(item);
  }
  return out;
}

Resources Resources::Unreserved() const {
  Resources out;
  for (const ResourceItem& item : items_) {
    if (item.role == kUnreservedRole) out.items_.push_back(item);
  }
  return out;
}

Resources Resources::Flattened() const {
  Resources out;
  for (ResourceItem item : items_) {
    item.role = kUnreservedRole;
    item.dynamic = false;
    item.principal = 0;
    out.Add(item);
  }
  return out;
}

namespace {

struct Principals {
  std::mutex mu;
  std::unordered_map<std::string, uint32_t> index;
  std::deque<std::string> names;  // grows only: references stay valid
};

Principals& ThePrincipals() {
  static Principals* p = new Principals();
  return *p;
}

}  // namespace

uint32_t PrincipalIndex(const std::string& name) {
  if (name.empty()) return 0;
  Principals& p = ThePrincipals();
  std::lock_guard<std::mutex> lock(p.mu);
  auto [it, added] = p.index.emplace(name, 0);
  if (added) {
    p.names.push_back(name);
    it->second = static_cast<uint32_t>(p.names.size());
  }
  return it->second;
}

const std::string& Principal(uint32_t index) {
  static const std::string kNone;
  if (index == 0) return kNone;
  Principals& p = ThePrincipals();
  std::lock_guard<std::mutex> lock(p.mu);
  return index <= p.names.size() ? p.names[index - 1] : kNone;
}

Resources Resources::DynamicallyReserved() const {
  Resources out;
  for (const ResourceItem& item : items_) {
    if (item.dynamic) out.items_.push_back(item);
  }
  return out;
}

absl::StatusOr<Resources> Resources::FromProto(const v1::Resource& r) {
  if (!r.has_name()) return absl::InvalidArgumentError("resource is missing 'name'");
  if (!ValidName(r.name())) return absl::InvalidArgumentError(absl::StrCat("invalid resource name '", r.name(), "'"));
  if (!r.has_type()) return absl::InvalidArgumentError(absl::StrCat("resource '", r.name(), "' is missing 'type'"));
  // Kinds of resource Corral cannot honour are refused, never taken as plain
  // ones: a persistent volume taken as scratch disk would lose its data.
  if (r.has_disk()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resource '", r.name(), "': 'disk' (persistent volumes and disk sources) is not supported by Corral"));
  }
  if (r.has_shared()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource '", r.name(), "': 'shared' resources are not supported by Corral"));
  }
  if (r.has_provider_id()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource '", r.name(), "': 'provider_id' (resource providers) is not supported by Corral"));
  }
  ResourceItem item;
  item.name = r.name();
  // Reservation: post-refinement `reservations` wins; else pre-refinement `role`.
  if (r.reservations_size() > 0) {
    const v1::Resource::ReservationInfo& last = r.reservations(r.reservations_size() - 1);
    item.role = last.role();
    item.dynamic = last.type() == v1::Resource::ReservationInfo::DYNAMIC;
    item.principal = PrincipalIndex(last.principal());
  } else if (r.has_role()) {
    item.role = r.role();
    // Pre-refinement: a `reservation` makes a reservation dynamic.
    item.dynamic = r.has_reservation() && item.role != kUnreservedRole;
    item.principal = PrincipalIndex(r.reservation().principal());
  }
  if (absl::Status s = ValidRole(item.role); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("resource '", r.name(), "': ", s.message()));
  }
  if (item.role == kUnreservedRole && (item.dynamic || item.principal != 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource '", r.name(), "': a reservation needs a role other than '*'"));
  }
  switch (r.type()) {
    case v1::Value::SCALAR: {
      if (!r.has_scalar())
        return absl::InvalidArgumentError(absl::StrCat("resource '", r.name(), "' of type SCALAR has no 'scalar'"));
      if (r.has_ranges() || r.has_set())
        return absl::InvalidArgumentError(
            absl::StrCat("resource '", r.name(), "' of type SCALAR also sets 'ranges' or 'set'"));
      auto m = ScalarToMilli(r.name(), r.scalar().value());
      if (!m.ok()) return m.status();
      item.kind = ResourceKind::kScalar;
      item.scalar = *m;
      break;
    }
    case v1::Value::RANGES: {
      if (!r.has_ranges())
        return absl::InvalidArgumentError(absl::StrCat("resource '", r.name(), "' of type RANGES has no 'ranges'"));
      if (r.has_scalar() || r.has_set())
        return absl::InvalidArgumentError(
            absl::StrCat("resource '", r.name(), "' of type RANGES also sets 'scalar' or 'set'"));
      item.kind = ResourceKind::kRanges;
      for (const auto& range : r.ranges().range()) {
        if (range.begin() > range.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat("resource '", r.name(), "': range [", range.begin(), "-", range.end(), "] has begin > end"));
        }
        item.ranges.push_back({range.begin(), range.end()});
      }
      std::vector<Range> sorted = item.ranges;
      std::sort(sorted.begin(), sorted.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
      for (size_t i = 1; i < sorted.size(); ++i) {
        if (sorted[i].begin <= sorted[i - 1].end) {
          return absl::InvalidArgumentError(absl::StrCat("resource '", r.name(), "': ranges [", sorted[i - 1].begin,
                                                         "-", sorted[i - 1].end, "] and [", sorted[i].begin, "-",
                                                         sorted[i].end, "] overlap"));
        }
      }
      NormalizeRanges(&item.ranges);
      break;
    }
    case v1::Value::SET: {
      if (!r.has_set())
        return absl::InvalidArgumentError(absl::StrCat("resource '", r.name(), "' of type SET has no 'set'"));
      item.kind = ResourceKind::kSet;
      item.set.assign(r.set().item().begin(), r.set().item().end());
      std::sort(item.set.begin(), item.set.end());
      if (std::adjacent_find(item.set.begin(), item.set.end()) != item.set.end()) {
        return absl::InvalidArgumentError(absl::StrCat("resource '", r.name(), "': set has duplicate items"));
      }
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("resource '", r.name(), "' has unsupported type ", v1::Value::Type_Name(r.type())));
  }
  Resources out;
  out.Add(item);
  return out;
}

absl::StatusOr<Resources> Resources::FromProto(const google::protobuf::RepeatedPtrField<v1::Resource>& resources) {
  Resources out;
  for (const v1::Resource& r : resources) {
    auto one = FromProto(r);
    if (!one.ok()) return one.status();
    // The same name must keep the same type.
    for (const ResourceItem& item : one->items_) {
      for (const ResourceItem& mine : out.items_) {
        if (mine.name == item.name && mine.kind != item.kind) {
          return absl::InvalidArgumentError(
              absl::StrCat("resource '", item.name, "' appears with two different types"));
        }
      }
    }
    out += *one;
  }
  return out;
}

void Resources::ToProto(google::protobuf::RepeatedPtrField<v1::Resource>* out,
                        const std::string& allocation_role) const {
  for (const ResourceItem& item : items_) {
    v1::Resource* r = out->Add();
    r->set_name(item.name);
    r->set_role(item.role);
    if (item.role != kUnreservedRole) {
      auto* res = r->add_reservations();
      res->set_type(item.dynamic ? v1::Resource::ReservationInfo::DYNAMIC : v1::Resource::ReservationInfo::STATIC);
      res->set_role(item.role);
      if (item.principal != 0) res->set_principal(Principal(item.principal));
      if (item.dynamic) {
        // The pre-refinement form too, for frameworks that read only it.
        v1::Resource::ReservationInfo* pre = r->mutable_reservation();
        if (item.principal != 0) pre->set_principal(Principal(item.principal));
      }
    }
    if (!allocation_role.empty()) r->mutable_allocation_info()->set_role(allocation_role);
    switch (item.kind) {
      case ResourceKind::kScalar:
        r->set_type(v1::Value::SCALAR);
        r->mutable_scalar()->set_value(FromMilli(item.scalar));
        break;
      case ResourceKind::kRanges:
        r->set_type(v1::Value::RANGES);
        for (const Range& range : item.ranges) {
          auto* pr = r->mutable_ranges()->add_range();
          pr->set_begin(range.begin);
          pr->set_end(range.end);
        }
        break;
      case ResourceKind::kSet:
        r->set_type(v1::Value::SET);
        for (const std::string& s : item.set) r->mutable_set()->add_item(s);
        break;
    }
  }
}

absl::StatusOr<Resources> Resources::Parse(const std::string& text) {
  Resources out;
  for (absl::string_view part : absl::StrSplit(text, ';', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    size_t colon = part.find(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("resource '", part, "' is not of the form name:value"));
    }
    std::string key(absl::StripAsciiWhitespace(part.substr(0, colon)));
    absl::string_view value = absl::StripAsciiWhitespace(part.substr(colon + 1));
    v1::Resource r;
    size_t paren = key.find('(');
    if (paren != std::string::npos) {
      if (key.back() != ')') return absl::InvalidArgumentError(absl::StrCat("resource '", key, "': unterminated role"));
      r.set_role(key.substr(paren + 1, key.size() - paren - 2));
      key = key.substr(0, paren);
    }
    r.set_name(key);
    if (absl::ConsumePrefix(&value, "[")) {
      if (!absl::ConsumeSuffix(&value, "]"))
        return absl::InvalidArgumentError(absl::StrCat("resource '", key, "': ranges must end with ']'"));
      r.set_type(v1::Value::RANGES);
      r.mutable_ranges();
      for (absl::string_view rng : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
        std::vector<absl::string_view> ends = absl::StrSplit(rng, '-');
        uint64_t b, e;
        if (ends.size() != 2 || !absl::SimpleAtoi(absl::StripAsciiWhitespace(ends[0]), &b) ||
            !absl::SimpleAtoi(absl::StripAsciiWhitespace(ends[1]), &e)) {
          return absl::InvalidArgumentError(absl::StrCat("resource '", key, "': bad range '", rng, "'"));
        }
        auto* pr = r.mutable_ranges()->add_range();
        pr->set_begin(b);
        pr->set_end(e);
      }
    } else if (absl::ConsumePrefix(&value, "{")) {
      if (!absl::ConsumeSuffix(&value, "}"))
        return absl::InvalidArgumentError(absl::StrCat("resource '", key, "': set must end with '}'"));
      r.set_type(v1::Value::SET);
      r.mutable_set();
      for (absl::string_view item : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
        r.mutable_set()->add_item(std::string(absl::StripAsciiWhitespace(item)));
      }
    } else {
      double d;
      if (!absl::SimpleAtod(value, &d)) {
        return absl::InvalidArgumentError(absl::StrCat("resource '", key, "': '", value, "' is not a number"));
      }
      r.set_type(v1::Value::SCALAR);
      r.mutable_scalar()->set_value(d);
    }
    auto one = FromProto(r);
    if (!one.ok()) return one.status();
    out += *one;
  }
  return out;
}

std::string Resources::ToString() const {
  std::vector<std::string> parts;
  for (const ResourceItem& item : items_) {
    std::string key = item.role == kUnreservedRole ? item.name : absl::StrCat(item.name, "(", item.role, ")");
    switch (item.kind) {
      case ResourceKind::kScalar: {
        std::ostringstream os;
        os << FromMilli(item.scalar);
        parts.push_back(absl::StrCat(key, ":", os.str()));
        break;
      }
      case ResourceKind::kRanges: {
        std::vector<std::string> rs;
        for (const Range& r : item.ranges) rs.push_back(absl::StrCat(r.begin, "-", r.end));
        parts.push_back(absl::StrCat(key, ":[", absl::StrJoin(rs, ","), "]"));
        break;
      }
      case ResourceKind::kSet: parts.push_back(absl::StrCat(key, ":{", absl::StrJoin(item.set, ","), "}")); break;
    }
  }
  return absl::StrJoin(parts, ";");
}

// --- Quantities ---------------------------------------------------------------

Quantities Quantities::Of(const Resources& resources) {
  Quantities q;
  for (const ResourceItem& item : resources.items()) {
    Milli v = 0;
    switch (item.kind) {
      case ResourceKind::kScalar: v = item.scalar; break;
      case ResourceKind::kRanges: v = static_cast<Milli>(RangesCount(item.ranges)) * 1000; break;
      case ResourceKind::kSet: v = static_cast<Milli>(item.set.size()) * 1000; break;
    }
    q.Set(item.name, q.Get(item.name) + v);
  }
  return q;
}

absl::StatusOr<Quantities> Quantities::Parse(const std::string& text) {
  auto r = Resources::Parse(text);
  if (!r.ok()) return r.status();
  for (const ResourceItem& item : r->items()) {
    if (item.kind != ResourceKind::kScalar || item.role != kUnreservedRole) {
      return absl::InvalidArgumentError(absl::StrCat("quantity '", item.name, "' must be an unreserved scalar"));
    }
  }
  return Of(*r);
}

Milli Quantities::Get(const std::string& name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& e, const std::string& n) { return e.first < n; });
  return (it != entries_.end() && it->first == name) ? it->second : 0;
}

void Quantities::Set(const std::string& name, Milli value) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const auto& e, const std::string& n) { return e.first < n; });
  if (it != entries_.end() && it->first == name) {
    if (value <= 0)
      entries_.erase(it);
    else
      it->second = value;
  } else if (value > 0) {
    entries_.insert(it, {name, value});
  }
}

Quantities& Quantities::operator+=(const Quantities& o) {
  for (const auto& [n, v] : o.entries_) Set(n, Get(n) + v);
  return *this;
}

Quantities& Quantities::operator-=(const Quantities& o) {
  for (const auto& [n, v] : o.entries_) Set(n, std::max<Milli>(0, Get(n) - v));
  return *this;
}

bool Quantities::FitsIn(const Quantities& o) const {
  for (const auto& [n, v] : entries_)
    if (v > o.Get(n)) return false;
  return true;
}

std::string Quantities::ToString() const {
  std::vector<std::string> parts;
  for (const auto& [n, v] : entries_) {
    std::ostringstream os;
    os << n << ":" << FromMilli(v);
    parts.push_back(os.str());
  }
  return absl::StrJoin(parts, ";");
}

}  // namespace corral
