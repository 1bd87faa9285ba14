#include <gtest/gtest.h>

#include "corral/zookeeper/leader.h"
#include "corral/zookeeper/records.h"
#include "corral/zookeeper/zk.h"

namespace corral::zk {
namespace {

TEST(RecordNodesTest, IdsBecomeNodeNamesAndBack) {
  for (std::string id : {"/prod/web", "100%/x%2F", "plain", ""}) {
    std::string name = RecordNodes::Name(id);
    EXPECT_EQ(name.find('/'), std::string::npos) << id;
    EXPECT_EQ(RecordNodes::Id(name), id);
  }
  EXPECT_EQ(RecordNodes::Name("/prod/web"), "%2Fprod%2Fweb");
}

TEST(ZkUrlTest, ParsesServersPathAndCredentials) {
  auto u = ParseUrl("zk://alice:secret@h1:2181,h2:2182/corral/prod/");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->servers, "h1:2181,h2:2182");
  EXPECT_EQ(u->path, "/corral/prod");
  EXPECT_EQ(u->credentials, "alice:secret");
  auto plain = ParseUrl("zk://127.0.0.1:2181/mesos");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->credentials, "");
}

TEST(ZkUrlTest, RefusesWhatIsNotAZkUrl) {
  for (const char* bad :
       {"127.0.0.1:5050", "zk://h1:2181", "zk://h1:2181/", "zk:///corral", "zk://h1/corral", "zk://h1:0/corral",
        "zk://h1:2181,/corral", "zk://nopass@h1:2181/corral", "zk://h1:2181//corral"}) {
    auto u = ParseUrl(bad);
    EXPECT_FALSE(u.ok()) << bad;
    EXPECT_NE(u.status().message().find(bad), std::string::npos) << u.status();
  }
}

TEST(LeaderNodeTest, SmallestJsonInfoNodeLeads) {
  EXPECT_EQ(LeaderNode({"json.info_0000000012", "registry", "json.info_0000000003", "log_replicas"}),
            "json.info_0000000003");
  EXPECT_FALSE(LeaderNode({"registry", "info_0000000001"}).has_value());
}

TEST(MasterInfoJsonTest, RoundTripsInMesosFieldNames) {
  v1::MasterInfo info;
  info.set_id("m1");
  info.set_ip(0x0100007f);  // 127.0.0.1, network byte order
  info.set_port(5050);
  info.set_hostname("localhost");
  info.mutable_address()->set_ip("127.0.0.1");
  info.mutable_address()->set_port(5050);
  std::string json = MasterInfoJson(info);
  EXPECT_NE(json.find("\"hostname\":\"localhost\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"ip\":16777343"), std::string::npos) << json;
  auto back = ParseMasterInfoJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(MasterAddress(*back), "127.0.0.1:5050");
  back->clear_address();
  EXPECT_EQ(MasterAddress(*back), "127.0.0.1:5050");  // from the packed ip, as old Mesos clients read it
  EXPECT_FALSE(ParseMasterInfoJson("{\"id\": \"x\"}").ok());
  EXPECT_FALSE(ParseMasterInfoJson("not json").ok());
}

}  // namespace
}  // namespace corral::zk
