// ParkedReads as the HTTP server's handler: what a request holds is released before its answer
// is handed back (a client that waits for each answer must never find its previous request
// still counted, e.g. by max-requests-inflight).
#include "federation-apiserver/parked_reads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

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
  handler.AddRoute("GET", "/hello", [](const rest::RestRequest&) {
    return rest::RestResponse::Text(200, "hello");
  });
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

}  // namespace
}  // namespace meridian::apiserver
