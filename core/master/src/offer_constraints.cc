#include "corral/master/offer_constraints.h"

#include <re2/re2.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace corral {

OfferConstraints::~OfferConstraints() = default;

// Mesos's defaults for --offer_constraints_re2_max_mem and
// --offer_constraints_re2_max_program_size: the allocator runs every
// constrained framework's expressions against every agent, so one framework
// must not be able to make that slow or large.
constexpr int64_t kMaxRegexMemory = 4096;
constexpr int kMaxRegexProgramSize = 100;

absl::StatusOr<std::shared_ptr<const OfferConstraints>> OfferConstraints::Compile(
    const v1::scheduler::OfferConstraints& proto, const std::vector<std::string>& roles) {
  using Selector = v1::scheduler::AttributeConstraint::Selector;
  using Predicate = v1::scheduler::AttributeConstraint::Predicate;
  auto out = std::shared_ptr<OfferConstraints>(new OfferConstraints());
  for (const auto& [role, rc] : proto.role_constraints()) {
    const std::string where = absl::StrCat("'offer_constraints.role_constraints[\"", role, "\"]");
    if (std::find(roles.begin(), roles.end(), role) == roles.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "' names a role the framework is not subscribed to"));
    }
    if (rc.groups_size() == 0) return absl::InvalidArgumentError(absl::StrCat(where, ".groups' is empty"));
    std::vector<Group>& groups = out->roles_[role];
    for (int g = 0; g < rc.groups_size(); ++g) {
      Group group;
      for (int c = 0; c < rc.groups(g).attribute_constraints_size(); ++c) {
        const auto& in = rc.groups(g).attribute_constraints(c);
        const std::string at = absl::StrCat(where, ".groups[", g, "].attribute_constraints[", c, "]");
        Constraint k;
        switch (in.selector().selector_case()) {
          case Selector::kAttributeName:
            k.selector = Constraint::Selector::kAttribute;
            k.attribute = in.selector().attribute_name();
            break;
          case Selector::kPseudoattributeType:
            switch (in.selector().pseudoattribute_type()) {
              case Selector::HOSTNAME: k.selector = Constraint::Selector::kHostname; break;
              case Selector::REGION: k.selector = Constraint::Selector::kRegion; break;
              case Selector::ZONE: k.selector = Constraint::Selector::kZone; break;
              default:
                return absl::InvalidArgumentError(
                    absl::StrCat(at, ".selector.pseudoattribute_type' must be HOSTNAME, REGION or ZONE"));
            }
            break;
          default: return absl::InvalidArgumentError(absl::StrCat(at, ".selector' is missing"));
        }
        auto regex = [&](const std::string& pattern) -> absl::Status {
          re2::RE2::Options options(re2::RE2::Quiet);
          options.set_max_mem(kMaxRegexMemory);
          auto re = std::make_shared<const re2::RE2>(pattern, options);
          if (!re->ok()) {
            return absl::InvalidArgumentError(absl::StrCat(at, ".predicate': '", pattern,
                                                           "' is not a regular expression RE2 accepts within ",
                                                           kMaxRegexMemory, " bytes: ", re->error()));
          }
          if (re->ProgramSize() > kMaxRegexProgramSize) {
            return absl::InvalidArgumentError(absl::StrCat(at, ".predicate': '", pattern, "' compiles to ",
                                                           re->ProgramSize(), " RE2 instructions, more than the ",
                                                           kMaxRegexProgramSize, " allowed"));
          }
          k.regex = std::move(re);
          return absl::OkStatus();
        };
        const Predicate& p = in.predicate();
        switch (p.predicate_case()) {
          case Predicate::kExists: k.predicate = Constraint::Predicate::kExists; break;
          case Predicate::kNotExists: k.predicate = Constraint::Predicate::kNotExists; break;
          case Predicate::kTextEquals:
            k.predicate = Constraint::Predicate::kEquals;
            k.value = p.text_equals().value();
            break;
          case Predicate::kTextNotEquals:
            k.predicate = Constraint::Predicate::kNotEquals;
            k.value = p.text_not_equals().value();
            break;
          case Predicate::kTextMatches:
            k.predicate = Constraint::Predicate::kMatches;
            if (auto s = regex(p.text_matches().regex()); !s.ok()) return s;
            break;
          case Predicate::kTextNotMatches:
            k.predicate = Constraint::Predicate::kNotMatches;
            if (auto s = regex(p.text_not_matches().regex()); !s.ok()) return s;
            break;
          default: return absl::InvalidArgumentError(absl::StrCat(at, ".predicate' is missing"));
        }
        group.push_back(std::move(k));
      }
      groups.push_back(std::move(group));
    }
  }
  return std::shared_ptr<const OfferConstraints>(std::move(out));
}

bool OfferConstraints::Constraint::Holds(const v1::AgentInfo& agent) const {
  // What the selector finds: absent, a non-TEXT attribute, or a text.
  bool found = false, text = true;
  const std::string* value = nullptr;
  switch (selector) {
    case Selector::kHostname:
      found = true;
      value = &agent.hostname();
      break;
    case Selector::kRegion:
      found = agent.domain().fault_domain().has_region();
      value = &agent.domain().fault_domain().region().name();
      break;
    case Selector::kZone:
      found = agent.domain().fault_domain().has_zone();
      value = &agent.domain().fault_domain().zone().name();
      break;
    case Selector::kAttribute:
      for (const v1::Attribute& a : agent.attributes()) {
        if (a.name() != attribute) continue;
        found = true;
        text = a.type() == v1::Value::TEXT;
        value = &a.text().value();
        break;
      }
      break;
  }
  switch (predicate) {
    case Predicate::kExists: return found;
    case Predicate::kNotExists: return !found;
    case Predicate::kEquals: return found && (!text || *value == this->value);
    case Predicate::kNotEquals: return !found || !text || *value != this->value;
    case Predicate::kMatches: return found && (!text || re2::RE2::FullMatch(*value, *regex));
    case Predicate::kNotMatches: return !found || !text || !re2::RE2::FullMatch(*value, *regex);
  }
  return false;
}

bool OfferConstraints::Admits(const std::string& role, const v1::AgentInfo& agent) const {
  auto it = roles_.find(role);
  if (it == roles_.end()) return true;
  for (const Group& group : it->second) {
    if (std::all_of(group.begin(), group.end(), [&](const Constraint& c) { return c.Holds(agent); })) return true;
  }
  return false;
}

}  // namespace corral
