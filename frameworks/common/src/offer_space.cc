#include "corral/framework/offer_space.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace corral::framework {

OfferSpace::OfferSpace(const v1::Offer& o) : offer(&o) {
  for (const auto& r : o.resources()) {
    if (r.has_disk() || r.has_reservation() || r.reservations_size() > 0) continue;  // reserved or volumes
    if (r.name() == "cpus") cpus += r.scalar().value();
    if (r.name() == "mem") mem += r.scalar().value();
    if (r.name() == "disk") disk += r.scalar().value();
    if (r.name() == "gpus") gpus += r.scalar().value();
    if (r.name() == "ports") {
      for (const auto& range : r.ranges().range()) ports.emplace_back(range.begin(), range.end());
    }
    if (r.has_allocation_info()) role = r.allocation_info().role();
  }
}

bool OfferSpace::HasPort(uint64_t p) const {
  for (const auto& [b, e] : ports) {
    if (p >= b && p <= e) return true;
  }
  return false;
}

void OfferSpace::TakePort(uint64_t p) {
  for (size_t i = 0; i < ports.size(); ++i) {
    auto [b, e] = ports[i];
    if (p < b || p > e) continue;
    ports.erase(ports.begin() + static_cast<long>(i));
    if (p > b) ports.emplace_back(b, p - 1);
    if (p < e) ports.emplace_back(p + 1, e);
    return;
  }
}

std::optional<std::vector<int>> OfferSpace::TakePorts(const std::vector<int>& required, size_t any) {
  std::vector<int> out;
  OfferSpace copy = *this;
  for (int p : required) {
    if (!copy.HasPort(static_cast<uint64_t>(p))) return std::nullopt;
    copy.TakePort(static_cast<uint64_t>(p));
    out.push_back(p);
  }
  for (size_t i = 0; i < any; ++i) {
    if (copy.ports.empty()) return std::nullopt;
    uint64_t p = copy.ports.front().first;
    copy.TakePort(p);
    out.push_back(static_cast<int>(p));
  }
  ports = std::move(copy.ports);
  return out;
}

std::vector<v1::Resource> OfferSpace::Resources(double c, double m, double d, double g,
                                                const std::vector<int>& port_list) const {
  std::vector<v1::Resource> res;
  if (c > 0) res.push_back(ScalarResource("cpus", c, role));
  if (m > 0) res.push_back(ScalarResource("mem", m, role));
  if (d > 0) res.push_back(ScalarResource("disk", d, role));
  if (g > 0) res.push_back(ScalarResource("gpus", g, role));
  if (!port_list.empty()) {
    v1::Resource p;
    p.set_name("ports");
    p.set_type(v1::Value::RANGES);
    for (int port : port_list) {
      auto* r = p.mutable_ranges()->add_range();
      r->set_begin(static_cast<uint64_t>(port));
      r->set_end(static_cast<uint64_t>(port));
    }
    if (!role.empty()) p.mutable_allocation_info()->set_role(role);
    res.push_back(p);
  }
  return res;
}

v1::Resource ScalarResource(const std::string& name, double value, const std::string& role) {
  v1::Resource r;
  r.set_name(name);
  r.set_type(v1::Value::SCALAR);
  r.mutable_scalar()->set_value(value);
  if (!role.empty()) r.mutable_allocation_info()->set_role(role);
  return r;
}

std::string AttributeText(const v1::Attribute& a) {
  if (a.has_text()) return a.text().value();
  if (a.has_scalar()) return absl::StrCat(a.scalar().value());
  if (a.has_set()) return absl::StrJoin(a.set().item(), ",");
  if (a.has_ranges()) {
    std::vector<std::string> parts;
    for (const auto& r : a.ranges().range()) parts.push_back(absl::StrCat(r.begin(), "-", r.end()));
    return "[" + absl::StrJoin(parts, ",") + "]";
  }
  return "";
}

}  // namespace corral::framework
