#include "corral/common/write_queue.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "corral/v1/corral.pb.h"

namespace corral {
namespace {

v1::TaskID Id(const std::string& value) {
  v1::TaskID id;
  id.set_value(value);
  return id;
}

struct Writes {
  std::vector<std::string> values;
  std::vector<bool> hints;
  auto Writer() {
    return [this](const v1::TaskID* m, grpc::WriteOptions options) {
      values.push_back(m->value());
      hints.push_back(options.get_buffer_hint());
    };
  }
};

TEST(WriteQueueTest, OneWriteInFlightTheRestInOrderWithABufferHintWhileMoreWait) {
  WriteQueue<v1::TaskID> q;
  Writes w;
  ASSERT_EQ(q.Push(Id("a")), WriteQueue<v1::TaskID>::Pushed::kStart);
  ASSERT_TRUE(q.Start(w.Writer()));
  EXPECT_EQ(q.Push(Id("b")), WriteQueue<v1::TaskID>::Pushed::kQueued);
  EXPECT_EQ(q.Push(Id("c")), WriteQueue<v1::TaskID>::Pushed::kQueued);
  EXPECT_TRUE(q.writing());
  for (int i = 0; i < 2; ++i) {
    q.Done();
    ASSERT_TRUE(q.Start(w.Writer()));
  }
  q.Done();
  EXPECT_FALSE(q.Start(w.Writer())) << "nothing left";
  EXPECT_FALSE(q.writing());
  EXPECT_EQ(w.values, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(w.hints, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(q.backlog_bytes(), 0u);
}

TEST(WriteQueueTest, ABoundedQueueRefusesWhatWouldPassItsLimit) {
  size_t one = Id("0123456789").ByteSizeLong();
  WriteQueue<v1::TaskID> q(3 * one);
  Writes w;
  ASSERT_EQ(q.Push(Id("0123456789")), WriteQueue<v1::TaskID>::Pushed::kStart);
  q.Start(w.Writer());
  ASSERT_EQ(q.Push(Id("0123456789")), WriteQueue<v1::TaskID>::Pushed::kQueued);
  ASSERT_EQ(q.Push(Id("0123456789")), WriteQueue<v1::TaskID>::Pushed::kQueued);
  EXPECT_EQ(q.Push(Id("0123456789")), WriteQueue<v1::TaskID>::Pushed::kFull) << "the one in flight counts";
  q.Done();
  EXPECT_EQ(q.Push(Id("0123456789")), WriteQueue<v1::TaskID>::Pushed::kStart);
  q.Clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.backlog_bytes(), 0u);
}

}  // namespace
}  // namespace corral
