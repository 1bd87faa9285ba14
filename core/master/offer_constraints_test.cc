#include "corral/master/offer_constraints.h"

#include <gtest/gtest.h>
#include <google/protobuf/util/json_util.h>

namespace corral {
namespace {

v1::scheduler::OfferConstraints Parse(const std::string& json) {
  v1::scheduler::OfferConstraints c;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &c).ok()) << json;
  return c;
}

v1::AgentInfo Agent(const std::string& hostname, const std::string& rack, const std::string& zone = "") {
  v1::AgentInfo a;
  a.set_hostname(hostname);
  if (!rack.empty()) {
    v1::Attribute* attr = a.add_attributes();
    attr->set_name("rack");
    attr->set_type(v1::Value::TEXT);
    attr->mutable_text()->set_value(rack);
  }
  v1::Attribute* cores = a.add_attributes();
  cores->set_name("cores");
  cores->set_type(v1::Value::SCALAR);
  cores->mutable_scalar()->set_value(8);
  if (!zone.empty()) {
    a.mutable_domain()->mutable_fault_domain()->mutable_region()->set_name("eu");
    a.mutable_domain()->mutable_fault_domain()->mutable_zone()->set_name(zone);
  }
  return a;
}

TEST(OfferConstraintsTest, AnAgentIsAdmittedWhenAllConstraintsOfOneGroupHold) {
  // (rack is r1 and the host matches web-.*) or (zone is z2).
  auto c = OfferConstraints::Compile(Parse(R"({"role_constraints": {"web": {"groups": [
      {"attribute_constraints": [
        {"selector": {"attribute_name": "rack"}, "predicate": {"text_equals": {"value": "r1"}}},
        {"selector": {"pseudoattribute_type": "HOSTNAME"}, "predicate": {"text_matches": {"regex": "web-.*"}}}]},
      {"attribute_constraints": [
        {"selector": {"pseudoattribute_type": "ZONE"}, "predicate": {"text_equals": {"value": "z2"}}}]}]}}})"),
                                     {"web", "batch"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE((*c)->Admits("web", Agent("web-1", "r1")));
  EXPECT_FALSE((*c)->Admits("web", Agent("web-1", "r2")));
  EXPECT_FALSE((*c)->Admits("web", Agent("db-web-1", "r1"))) << "a regex matches the whole value";
  EXPECT_TRUE((*c)->Admits("web", Agent("db", "r9", "z2")));
  EXPECT_FALSE((*c)->Admits("web", Agent("db", "")));
  EXPECT_TRUE((*c)->Admits("batch", Agent("db", ""))) << "a role without constraints takes any agent";
}

TEST(OfferConstraintsTest, PredicatesOnMissingAndNonTextAttributes) {
  auto one = [](const std::string& selector, const std::string& predicate) {
    auto c = OfferConstraints::Compile(Parse(R"({"role_constraints": {"*": {"groups": [{"attribute_constraints": [
        {"selector": )" + selector + R"(, "predicate": )" +
                                             predicate + "}]}]}}}"),
                                       {"*"});
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  };
  const std::string rack = R"({"attribute_name": "rack"})", cores = R"({"attribute_name": "cores"})";
  v1::AgentInfo with = Agent("h", "r1"), without = Agent("h", "");
  EXPECT_TRUE(one(rack, R"({"exists": {}})")->Admits("*", with));
  EXPECT_FALSE(one(rack, R"({"exists": {}})")->Admits("*", without));
  EXPECT_TRUE(one(rack, R"({"not_exists": {}})")->Admits("*", without));
  EXPECT_FALSE(one(rack, R"({"text_equals": {"value": "r1"}})")->Admits("*", without));
  EXPECT_TRUE(one(rack, R"({"text_not_equals": {"value": "r1"}})")->Admits("*", without));
  EXPECT_FALSE(one(rack, R"({"text_not_equals": {"value": "r1"}})")->Admits("*", with));
  EXPECT_TRUE(one(rack, R"({"text_not_matches": {"regex": "r[2-9]"}})")->Admits("*", with));
  // A scalar attribute satisfies every text predicate, as in Mesos.
  EXPECT_TRUE(one(cores, R"({"text_equals": {"value": "nope"}})")->Admits("*", with));
  EXPECT_TRUE(one(cores, R"({"text_not_equals": {"value": "8"}})")->Admits("*", with));
  // REGION and ZONE exist only with a fault domain.
  const std::string region = R"({"pseudoattribute_type": "REGION"})";
  EXPECT_FALSE(one(region, R"({"exists": {}})")->Admits("*", with));
  EXPECT_TRUE(one(region, R"({"text_equals": {"value": "eu"}})")->Admits("*", Agent("h", "", "z1")));
}

TEST(OfferConstraintsTest, BadConstraintsAreRefusedByName) {
  auto refused = [](const std::string& json, const std::vector<std::string>& roles) {
    auto c = OfferConstraints::Compile(Parse(json), roles);
    EXPECT_FALSE(c.ok());
    return std::string(c.status().message());
  };
  EXPECT_NE(refused(R"({"role_constraints": {"other": {"groups": [{}]}}})", {"*"})
                .find("'offer_constraints.role_"
                      "constraints[\"other\"]' "
                      "names a role"),
            std::string::npos);
  EXPECT_NE(refused(R"({"role_constraints": {"*": {"groups": [{"attribute_constraints": [
      {"selector": {"attribute_name": "a"}, "predicate": {"text_matches": {"regex": "(unclosed"}}}]}]}}})",
                    {"*"})
                .find("'(unclosed' is not a regular expression"),
            std::string::npos);
  EXPECT_NE(refused(R"({"role_constraints": {"*": {"groups": [{"attribute_constraints": [
      {"predicate": {"exists": {}}}]}]}}})",
                    {"*"})
                .find("attribute_constraints[0].selector' is missing"),
            std::string::npos);
  EXPECT_NE(refused(R"({"role_constraints": {"*": {"groups": []}}})", {"*"}).find(".groups' is empty"),
            std::string::npos);
  // An expression too big for the allocator to run on every agent: a
  // repeat that RE2 unrolls into hundreds of instructions.
  EXPECT_NE(refused(R"({"role_constraints": {"*": {"groups": [{"attribute_constraints": [
      {"selector": {"attribute_name": "a"}, "predicate": {"text_matches": {"regex": "(abc|def){1,200}"}}}]}]}}})",
                    {"*"})
                .find("is not a regular expression RE2 accepts within 4096 bytes"),
            std::string::npos);
  // Small in memory but long as a program.
  EXPECT_NE(refused(R"({"role_constraints": {"*": {"groups": [{"attribute_constraints": [
      {"selector": {"attribute_name": "a"}, "predicate": {"text_matches": {"regex": "[a-z]{60}[0-9]{60}"}}}]}]}}})",
                    {"*"})
                .find("more than the 100 allowed"),
            std::string::npos);
}

TEST(OfferConstraintsTest, AnOrdinaryExpressionFitsTheLimits) {
  auto c = OfferConstraints::Compile(Parse(R"({"role_constraints": {"*": {"groups": [{"attribute_constraints": [
      {"selector": {"attribute_name": "rack"}, "predicate": {"text_matches": {"regex": "rack-(eu|us)-[0-9]+"}}}]}]}}})"),
                                     {"*"});
  ASSERT_TRUE(c.ok()) << c.status();
}

}  // namespace
}  // namespace corral
