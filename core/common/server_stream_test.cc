#include "corral/common/server_stream.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include "corral/v1/internal.grpc.pb.h"

namespace corral {
namespace {

using v1::scheduler::Event;

// A subscription whose events pile up: the server side of the test.
struct Subscriptions : v1::internal::SchedulerService::CallbackService {
  std::mutex mu;
  std::condition_variable cv;
  std::shared_ptr<ServerEventStream<Event>> stream;
  bool done = false;
  grpc::ServerWriteReactor<Event>* Subscribe(grpc::CallbackServerContext* ctx, const v1::scheduler::Call*) override {
    auto s = std::make_shared<ServerEventStream<Event>>(ctx, 1 << 20);
    s->Keep(s);
    s->SetOnDone([this] {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_all();
    });
    std::lock_guard<std::mutex> lock(mu);
    stream = s;
    cv.notify_all();
    return s.get();
  }
};

// A client that subscribes and never reads: the server's queue for it stays
// bounded, and the call ends.
TEST(ServerEventStream, AClientThatNeverReadsIsCutOffAtTheBacklogLimit) {
  Subscriptions service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::internal::SchedulerService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto reader = stub->Subscribe(&ctx, v1::scheduler::Call());  // never read
  std::shared_ptr<ServerEventStream<Event>> stream;
  {
    std::unique_lock<std::mutex> lock(service.mu);
    ASSERT_TRUE(service.cv.wait_for(lock, std::chrono::seconds(10), [&] { return service.stream != nullptr; }));
    stream = service.stream;
  }
  Event big;
  big.set_type(Event::MESSAGE);
  big.mutable_message()->set_data(std::string(64 << 10, 'x'));
  int sent = 0;
  while (sent < 10000 && stream->Send(big)) ++sent;
  // What transport buffers hold, plus at most 1 MiB queued.
  EXPECT_LT(sent, 200) << "the queue grew without bound";
  EXPECT_FALSE(stream->Send(big)) << "a stream that was cut off refuses more";
  std::unique_lock<std::mutex> lock(service.mu);
  EXPECT_TRUE(service.cv.wait_for(lock, std::chrono::seconds(10), [&] { return service.done; })) << "the call must end";
  lock.unlock();
  ctx.TryCancel();
  server->Shutdown();
}

}  // namespace
}  // namespace corral
