#include "corral/http/json_numbers.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "corral/http/api.h"
#include "corral/v1/corral.pb.h"
#include "corral/v1/master.pb.h"

namespace corral::http {
namespace {

TEST(Unquote64, PortRangesAndNanosecondsBecomeNumbers) {
  v1::Offer offer;
  offer.mutable_id()->set_value("1234");  // a string that looks like a number stays a string
  v1::Resource* ports = offer.add_resources();
  ports->set_name("ports");
  ports->set_type(v1::Value::RANGES);
  auto* r = ports->mutable_ranges()->add_range();
  r->set_begin(31000);
  r->set_end(18446744073709551615ull);
  auto* r2 = ports->mutable_ranges()->add_range();
  r2->set_begin(1);
  r2->set_end(2);
  v1::Resource* cpus = offer.add_resources();
  cpus->set_name("cpus");
  cpus->set_type(v1::Value::SCALAR);
  cpus->mutable_scalar()->set_value(0.1);
  offer.mutable_unavailability()->mutable_start()->set_nanoseconds(-5);
  EXPECT_EQ(ToJson(offer), R"({"id":{"value":"1234"},"resources":[{"name":"ports","type":"RANGES","ranges":{"range":[)"
                           R"({"begin":31000,"end":18446744073709551615},{"begin":1,"end":2}]}},)"
                           R"({"name":"cpus","type":"SCALAR","scalar":{"value":0.1}}],)"
                           R"("unavailability":{"start":{"nanoseconds":-5}}})");
}

TEST(Unquote64, MapsAndWellKnownTypesKeepTheirForms) {
  v1::master::Call call;
  call.set_type(v1::master::Call::DRAIN_AGENT);
  call.mutable_drain_agent()->mutable_agent_id()->set_value("a");
  call.mutable_drain_agent()->mutable_max_grace_period()->set_seconds(10);
  EXPECT_EQ(ToJson(call),
            R"({"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"a"},"max_grace_period":"10s"}})");

  v1::FrameworkInfo info;
  info.set_user("u");
  info.set_name("n");
  auto& filters = (*info.mutable_offer_filters())["web"];
  (*filters.mutable_min_allocatable_resources()->add_quantities()->mutable_quantities())["mem"].set_value(32);
  EXPECT_EQ(ToJson(info), R"({"user":"u","name":"n","offer_filters":{"web":{"min_allocatable_resources":)"
                          R"({"quantities":[{"quantities":{"mem":{"value":32}}}]}}}})");
}

TEST(Unquote64, WhatDoesNotParseIsReturnedUnchanged) {
  EXPECT_EQ(Unquote64(R"({"begin":"1")", v1::Value::Range::descriptor()), R"({"begin":"1")");
  EXPECT_EQ(Unquote64(R"({"begin":"x1"})", v1::Value::Range::descriptor()), R"({"begin":"x1"})");
  EXPECT_EQ(Unquote64(R"({"other":"1","begin":"7"})", v1::Value::Range::descriptor()), R"({"other":"1","begin":7})");
}

// Mesos reads a google.protobuf.Duration as the message it is; protobuf's
// parser takes that form beside its own string.
TEST(DurationObjects, MesosObjectFormAndTheMappingsStringBothParse) {
  for (const auto& [body, seconds, nanos] : std::vector<std::tuple<std::string, int64_t, int32_t>>{
           {R"({"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"a"},"max_grace_period":{"seconds":10}}})", 10,
            0},
           {R"({"type":"DRAIN_AGENT","drain_agent":{"max_grace_period":{"seconds":"3","nanos":500000000}}})", 3,
            500000000},
           {R"({"type":"DRAIN_AGENT","drain_agent":{"max_grace_period":{"nanos":-2500}}})", 0, -2500},
           {R"({"type":"DRAIN_AGENT","drain_agent":{"max_grace_period":"10.5s"}})", 10, 500000000},
       }) {
    v1::master::Call call;
    ASSERT_TRUE(Parse(body, Format::kJson, &call).ok()) << body;
    EXPECT_EQ(call.drain_agent().max_grace_period().seconds(), seconds) << body;
    EXPECT_EQ(call.drain_agent().max_grace_period().nanos(), nanos) << body;
  }
  // A value of the wrong type is still refused.
  v1::master::Call call;
  EXPECT_FALSE(
      Parse(R"({"type":"DRAIN_AGENT","drain_agent":{"max_grace_period":{"seconds":1.5}}})", Format::kJson, &call).ok());
}

}  // namespace
}  // namespace corral::http
