// What an offer still has while a framework fits tasks into it: its
// unreserved scalars and port ranges, and the role it was made to.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "corral/v1/corral.pb.h"

namespace corral::framework {

struct OfferSpace {
  const v1::Offer* offer;
  double cpus = 0, mem = 0, disk = 0, gpus = 0;
  std::vector<std::pair<uint64_t, uint64_t>> ports;  // free ranges
  // The role the offer was made to (allocation_info, for a MULTI_ROLE
  // framework); the launched resources must name it.
  std::string role;

  explicit OfferSpace(const v1::Offer& o);

  bool Fits(double c, double m, double d, double g = 0) const {
    return cpus + 1e-9 >= c && mem + 1e-9 >= m && disk + 1e-9 >= d && gpus + 1e-9 >= g;
  }
  void Take(double c, double m, double d, double g = 0) {
    cpus -= c;
    mem -= m;
    disk -= d;
    gpus -= g;
  }
  bool HasPort(uint64_t p) const;
  void TakePort(uint64_t p);
  // The ports `required` and `any` more free ones, taken; nullopt (and
  // nothing taken) when the offer lacks them.
  std::optional<std::vector<int>> TakePorts(const std::vector<int>& required, size_t any);
  // The launched form: scalars (those above zero) and the ports, in `role`.
  std::vector<v1::Resource> Resources(double c, double m, double d, double g, const std::vector<int>& ports) const;
};

v1::Resource ScalarResource(const std::string& name, double value, const std::string& role);
// An agent attribute's value as text ("r1", "2.5", "a,b", "[1-2]").
std::string AttributeText(const v1::Attribute& a);

}  // namespace corral::framework
