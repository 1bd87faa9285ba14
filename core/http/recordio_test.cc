#include "corral/http/recordio.h"

#include <gtest/gtest.h>

namespace corral::http {
namespace {

TEST(RecordIO, FramesAsMesosDoes) {
  EXPECT_EQ(RecordIOFrame("{\"type\":\"HEARTBEAT\"}"), "20\n{\"type\":\"HEARTBEAT\"}");
  EXPECT_EQ(RecordIOFrame(""), "0\n");
}

TEST(RecordIO, ReadsRecordsSplitAnywhere) {
  std::string wire = RecordIOFrame("hello") + RecordIOFrame("") + RecordIOFrame("a\nb");
  for (size_t split = 0; split <= wire.size(); ++split) {
    RecordIOReader reader;
    std::vector<std::string> records;
    ASSERT_TRUE(reader.Feed(wire.substr(0, split), &records).ok());
    ASSERT_TRUE(reader.Feed(wire.substr(split), &records).ok());
    EXPECT_EQ(records, (std::vector<std::string>{"hello", "", "a\nb"})) << "split at " << split;
    EXPECT_FALSE(reader.partial());
  }
}

TEST(RecordIO, RejectsBadLengths) {
  std::vector<std::string> records;
  RecordIOReader reader;
  auto st = reader.Feed("12x\nabc", &records);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'12x' is not a record length"), std::string::npos) << st;
  EXPECT_FALSE(reader.Feed("3\nabc", &records).ok()) << "errors are final";

  RecordIOReader small(4);
  st = small.Feed("5\nhello", &records);
  EXPECT_NE(st.message().find("exceeds the limit of 4"), std::string::npos) << st;

  RecordIOReader endless;
  EXPECT_FALSE(endless.Feed(std::string(30, '1'), &records).ok());
  EXPECT_TRUE(records.empty());
}

}  // namespace
}  // namespace corral::http
