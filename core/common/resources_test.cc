#include "corral/common/resources.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace corral {
namespace {

Resources R(const std::string& text) {
  auto r = Resources::Parse(text);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : Resources();
}

TEST(ResourcesTest, ParsesMesosTextSyntax) {
  Resources r = R("cpus:4;mem:8192;ports:[31000-31999,32100-32200];disks:{a,b};gpus(ml):2");
  EXPECT_EQ(r.Scalar("cpus"), 4000);
  EXPECT_EQ(r.Scalar("mem"), 8192000);
  EXPECT_EQ(r.Scalar("gpus"), 2000);
  EXPECT_EQ(r.AllocatableTo("dev").Scalar("gpus"), 0);
  EXPECT_EQ(r.AllocatableTo("ml").Scalar("gpus"), 2000);
  EXPECT_EQ(Quantities::Of(r).Get("ports"), 1101 * 1000);
  EXPECT_EQ(Quantities::Of(r).Get("disks"), 2000);
}

TEST(ResourcesTest, ScalarsAreFixedPointAndDoNotDrift) {
  Resources total = R("cpus:1");
  Resources tenth = R("cpus:0.1");
  Resources used;
  for (int i = 0; i < 10; ++i) used += tenth;
  EXPECT_EQ(used, total);
  for (int i = 0; i < 10; ++i) used -= tenth;
  EXPECT_TRUE(used.Empty());
}

TEST(ResourcesTest, ArithmeticOnRangesAndSets) {
  Resources ports = R("ports:[100-200]");
  ports -= R("ports:[150-160]");
  EXPECT_EQ(ports.ToString(), "ports:[100-149,161-200]");
  EXPECT_TRUE(ports.Contains(R("ports:[100-120,190-200]")));
  EXPECT_FALSE(ports.Contains(R("ports:[140-170]")));
  ports += R("ports:[150-160]");
  EXPECT_EQ(ports.ToString(), "ports:[100-200]");
  Resources s = R("disks:{a,b,c}") - R("disks:{b}");
  EXPECT_EQ(s.ToString(), "disks:{a,c}");
}

TEST(ResourcesTest, ContainsRespectsRoles) {
  Resources r = R("cpus:2;cpus(dev):1");
  EXPECT_TRUE(r.Contains(R("cpus:2")));
  EXPECT_FALSE(r.Contains(R("cpus:3")));
  EXPECT_TRUE(r.Flattened().Contains(R("cpus:3")));
  EXPECT_TRUE(r.Contains(R("cpus(dev):1")));
  EXPECT_FALSE(r.Contains(R("cpus(ops):1")));
}

TEST(ResourcesTest, SubtractionSaturatesAtZero) {
  Resources r = R("mem:10") - R("mem:20");
  EXPECT_TRUE(r.Empty());
}

v1::Resource Scalar(const std::string& name, double v) {
  v1::Resource r;
  r.set_name(name);
  r.set_type(v1::Value::SCALAR);
  r.mutable_scalar()->set_value(v);
  return r;
}

TEST(ResourcesTest, RejectsBadScalarsWithTheirName) {
  auto neg = Resources::FromProto(Scalar("cpus", -1));
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.status().message().find("'cpus': scalar is negative"), std::string::npos) << neg.status();
  auto nan = Resources::FromProto(Scalar("mem", std::nan("")));
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("'mem': scalar is NaN"), std::string::npos);
  auto inf = Resources::FromProto(Scalar("mem", std::numeric_limits<double>::infinity()));
  ASSERT_FALSE(inf.ok());
  EXPECT_NE(inf.status().message().find("infinite"), std::string::npos);
}

TEST(ResourcesTest, RejectsMalformedResources) {
  v1::Resource ranges;
  ranges.set_name("ports");
  ranges.set_type(v1::Value::RANGES);
  auto* a = ranges.mutable_ranges()->add_range();
  a->set_begin(10);
  a->set_end(20);
  auto* b = ranges.mutable_ranges()->add_range();
  b->set_begin(15);
  b->set_end(25);
  auto overlap = Resources::FromProto(ranges);
  ASSERT_FALSE(overlap.ok());
  EXPECT_NE(overlap.status().message().find("overlap"), std::string::npos) << overlap.status();

  b->set_begin(30);
  b->set_end(29);
  auto backwards = Resources::FromProto(ranges);
  ASSERT_FALSE(backwards.ok());
  EXPECT_NE(backwards.status().message().find("begin > end"), std::string::npos);

  v1::Resource no_name = Scalar("", 1);
  no_name.clear_name();
  EXPECT_FALSE(Resources::FromProto(no_name).ok());

  v1::Resource no_scalar;
  no_scalar.set_name("cpus");
  no_scalar.set_type(v1::Value::SCALAR);
  auto missing = Resources::FromProto(no_scalar);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("has no 'scalar'"), std::string::npos);

  google::protobuf::RepeatedPtrField<v1::Resource> mixed;
  *mixed.Add() = Scalar("ports", 1);
  *mixed.Add() = ranges;
  mixed.Mutable(1)->mutable_ranges()->mutable_range(1)->set_begin(40);
  mixed.Mutable(1)->mutable_ranges()->mutable_range(1)->set_end(50);
  auto two_types = Resources::FromProto(mixed);
  ASSERT_FALSE(two_types.ok());
  EXPECT_NE(two_types.status().message().find("two different types"), std::string::npos);
}

TEST(ResourcesTest, ParseErrorsNameThePart) {
  EXPECT_NE(Resources::Parse("cpus").status().message().find("'cpus' is not of the form"), std::string::npos);
  EXPECT_NE(Resources::Parse("cpus:abc").status().message().find("'abc' is not a number"), std::string::npos);
  EXPECT_NE(Resources::Parse("ports:[1-2").status().message().find("must end with ']'"), std::string::npos);
}

TEST(ResourcesTest, ProtoRoundTripKeepsRolesAndAllocation) {
  Resources r = R("cpus:1.5;mem(dev):64;ports:[1-3]");
  google::protobuf::RepeatedPtrField<v1::Resource> proto;
  r.ToProto(&proto, "dev");
  for (const auto& p : proto) EXPECT_EQ(p.allocation_info().role(), "dev");
  auto back = Resources::FromProto(proto);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, r);
}

TEST(ResourcesTest, DynamicReservationsKeepTheirTypeAndPrincipal) {
  v1::Resource dynamic;
  dynamic.set_name("cpus");
  dynamic.set_type(v1::Value::SCALAR);
  dynamic.mutable_scalar()->set_value(2);
  auto* res = dynamic.add_reservations();
  res->set_type(v1::Resource::ReservationInfo::DYNAMIC);
  res->set_role("dev");
  res->set_principal("ops");
  auto r = Resources::FromProto(dynamic);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->items().size(), 1u);
  EXPECT_TRUE(r->items()[0].dynamic);
  EXPECT_EQ(Principal(r->items()[0].principal), "ops");
  EXPECT_EQ(r->DynamicallyReserved(), *r);
  EXPECT_EQ(r->Flattened(), R("cpus:2"));

  // Not the same resource as a static reservation of the same role, nor as
  // one made by someone else.
  EXPECT_FALSE(R("cpus(dev):2").Contains(*r));
  EXPECT_FALSE(r->Contains(R("cpus(dev):2")));
  v1::Resource other = dynamic;
  other.mutable_reservations(0)->set_principal("someone-else");
  EXPECT_FALSE(r->Contains(*Resources::FromProto(other)));

  // Both forms out; either form back in.
  google::protobuf::RepeatedPtrField<v1::Resource> proto;
  r->ToProto(&proto);
  ASSERT_EQ(proto.size(), 1);
  EXPECT_EQ(proto[0].reservations(0).type(), v1::Resource::ReservationInfo::DYNAMIC);
  EXPECT_EQ(proto[0].reservations(0).principal(), "ops");
  EXPECT_EQ(proto[0].reservation().principal(), "ops");
  EXPECT_EQ(*Resources::FromProto(proto), *r);
  v1::Resource pre = proto[0];
  pre.clear_reservations();
  EXPECT_EQ(*Resources::FromProto(pre), *r);

  // A reservation needs a role.
  v1::Resource unroled = dynamic;
  unroled.mutable_reservations(0)->set_role("*");
  auto bad = Resources::FromProto(unroled);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("role"), std::string::npos) << bad.status();
}

TEST(QuantitiesTest, ArithmeticAndFit) {
  auto q = Quantities::Parse("cpus:2;mem:100");
  ASSERT_TRUE(q.ok());
  Quantities used = Quantities::Of(R("cpus:1;mem:100"));
  EXPECT_TRUE(used.FitsIn(*q));
  used += Quantities::Of(R("cpus:1.5"));
  EXPECT_FALSE(used.FitsIn(*q));
  Quantities left = *q;
  left -= used;
  EXPECT_EQ(left.Get("cpus"), 0);
  EXPECT_FALSE(Quantities::Parse("ports:[1-2]").ok());
}

}  // namespace
}  // namespace corral
