// ParkedReads as the HTTP server's handler: what a request holds is released before its answer
// is handed back (a client that waits for each answer must never find its previous request
// still counted, e.g. by max-requests-inflight).
#include "federation-apiserver/parked_reads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "apimachinery/cacher.h"
#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "common/clock.h"

namespace meridian::apiserver {
namespace {

namespace rest = apimachinery::rest;

TEST(ParkedReadsTest, WhatAFilterHeldIsReleasedBeforeTheAnswerGoesBack) {
  apimachinery::MemoryStore store;
  apimachinery::ResourceRegistry registry;
  FakeClock clock;
  apimachinery::ObjectService objects{store, clock, registry};
  rest::RestHandler handler(objects, clock);
  auto held = std::make_shared<std::atomic<int>>(0);
  handler.AddFilter([held](rest::RestRequest& request) -> Status {
    ++*held;
    request.holds.push_back(std::shared_ptr<void>(nullptr, [held](void*) { --*held; }));
    return Status::Ok();
  });
  handler.AddRoute("GET", "/hello",
                   [](const rest::RestRequest&) { return rest::RestResponse::Text(200, "hello"); });
  ParkedReads parked(handler, /*cacher=*/nullptr);
  rest::AsyncHttpHandler serve = parked.Handler();
  int answers = 0;
  int held_when_answered = -1;
  rest::RestRequest request;
  request.method = "GET";
  request.path = "/hello";
  serve(std::move(request), [&](rest::RestResponse response) {
    ++answers;
    held_when_answered = held->load();
    EXPECT_EQ(response.code, 200);
  });
  EXPECT_EQ(answers, 1);
  EXPECT_EQ(held_when_answered, 0) << "the request's hold outlived its answer";
  EXPECT_EQ(held->load(), 0);
}

// Where reads are parked (several writers), a request that is not parked (a write, which on
// etcd waits for its Txn) runs on ParkedReads' own threads: the server's thread is free again
// at once. Where they are not (single writer: SQLite, memory), it is served on the server's
// thread as before, whatever was asked.
TEST(ParkedReadsTest, WhatMayWaitOnTheStoreRunsOnThreadsOfItsOwnOnlyWhereReadsAreParked) {
  apimachinery::MemoryStore store;
  apimachinery::ResourceRegistry registry;
  FakeClock clock;
  apimachinery::ObjectService objects{store, clock, registry};
  rest::RestHandler handler(objects, clock);
  std::mutex mu;
  std::thread::id served_on;
  handler.AddRoute("POST", "/write", [&](const rest::RestRequest&) {
    std::lock_guard lock(mu);
    served_on = std::this_thread::get_id();
    return rest::RestResponse::Text(201, "written");
  });
  auto post = [](const rest::AsyncHttpHandler& serve) {
    auto answered = std::make_shared<std::promise<int>>();
    std::future<int> code = answered->get_future();
    rest::RestRequest request;
    request.method = "POST";
    request.path = "/write";
    serve(std::move(request),
          [answered](rest::RestResponse response) { answered->set_value(response.code); });
    return code;
  };

  apimachinery::CacherOptions several_writers;
  several_writers.single_writer = false;
  auto parking =
      apimachinery::NewCacher(std::make_unique<apimachinery::MemoryStore>(), several_writers);
  ASSERT_TRUE(parking->ParksConsistentReads());
  {
    ParkedReads parked(handler, parking.get(), /*blocking_threads=*/2);
    EXPECT_TRUE(parked.Parks());
    std::future<int> code = post(parked.Handler());
    ASSERT_EQ(code.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_EQ(code.get(), 201);
    std::lock_guard lock(mu);
    EXPECT_NE(served_on, std::this_thread::get_id()) << "the write held the server's thread";
  }

  apimachinery::CacherOptions single;
  single.single_writer = true;
  auto not_parking = apimachinery::NewCacher(std::make_unique<apimachinery::MemoryStore>(), single);
  ParkedReads unparked(handler, not_parking.get(), /*blocking_threads=*/2);
  EXPECT_FALSE(unparked.Parks());
  std::future<int> code = post(unparked.Handler());
  ASSERT_EQ(code.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_EQ(code.get(), 201);
  std::lock_guard lock(mu);
  EXPECT_EQ(served_on, std::this_thread::get_id());
}

}  // namespace
}  // namespace meridian::apiserver
