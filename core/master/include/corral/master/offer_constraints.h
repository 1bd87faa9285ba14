// A framework's offer constraints (Mesos's scheduler OfferConstraints, given
// at SUBSCRIBE and UPDATE_FRAMEWORK): for each of its roles, which agents it
// may be offered, by their attributes, hostname, region and zone.
//
// A role with constraints is offered an agent only if one of its groups
// holds, that is if every constraint of that group does; a role without is
// offered any agent. Predicates, as in Mesos:
//   exists / not_exists        the (pseudo)attribute is there or not
//   text_equals / text_matches true for a TEXT value equal to / fully
//                              matching (RE2) the given one; false when the
//                              attribute is missing
//   text_not_equals /          the negations: true when it is missing
//   text_not_matches
// An attribute that is not TEXT (scalar, ranges, set) satisfies every text
// predicate, as Mesos lets it pass rather than judge it. HOSTNAME always
// exists; REGION and ZONE exist when the agent has a fault domain.
//
// Compiled once (regular expressions included) and then only read.
// Threading: Compile and Admits from any thread; an instance is immutable.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "corral/v1/corral.pb.h"
#include "corral/v1/scheduler.pb.h"

namespace re2 {
class RE2;
}

namespace corral {

class OfferConstraints {
 public:
  // Refuses (naming the field) a role the framework does not have, a
  // constraint with no selector or predicate, and a regular expression RE2
  // cannot compile in 4 KiB or that compiles to more than 100 instructions
  // (Mesos's default limits).
  static absl::StatusOr<std::shared_ptr<const OfferConstraints>> Compile(const v1::scheduler::OfferConstraints& proto,
                                                                         const std::vector<std::string>& roles);
  ~OfferConstraints();

  // Whether `role` may be offered `agent`.
  bool Admits(const std::string& role, const v1::AgentInfo& agent) const;

 private:
  struct Constraint {
    enum class Selector { kAttribute, kHostname, kRegion, kZone } selector;
    std::string attribute;
    enum class Predicate { kExists, kNotExists, kEquals, kNotEquals, kMatches, kNotMatches } predicate;
    std::string value;
    std::shared_ptr<const re2::RE2> regex;
    bool Holds(const v1::AgentInfo& agent) const;
  };
  using Group = std::vector<Constraint>;
  std::map<std::string, std::vector<Group>> roles_;
};

}  // namespace corral
