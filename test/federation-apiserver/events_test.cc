// core/v1 Events in the federation-apiserver: registered, written by an EventRecorder through
// the same ObjectService the controllers use, and found over REST by the field selector
// `fedctl describe` uses.
#include <gtest/gtest.h>

#include "apimachinery/event_recorder.h"
#include "test/common/in_process_federation.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace rest = apimachinery::rest;

TEST(FederationEvents, RecordedEventsAreListedByInvolvedObject) {
  test_env::InProcessFederation fed("events");
  fed.Apply({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}});
  apimachinery::ObjectReference web{.api_version = "federation.meridian.io/v1alpha1",
                                    .kind = "FederatedWorkload", .ns = "shop", .name = "web"};
  apimachinery::ObjectReference api = web;
  api.name = "api";
  {
    apimachinery::EventRecorder recorder(fed.objects(), fed.clock(), {.component = "test"});
    recorder.Record(web, apimachinery::EventType::kNormal, "Placed", "30 replicas on 5 members");
    recorder.Record(api, apimachinery::EventType::kNormal, "Placed", "3 replicas on 1 member");
    recorder.Record(web, apimachinery::EventType::kWarning, "SyncFailed", "eu-west-1: 401");
    recorder.Flush();
    EXPECT_EQ(recorder.failed(), 0u);
  }

  rest::RestRequest req;
  req.method = "GET";
  req.path = "/api/v1/namespaces/shop/events";
  req.query["fieldSelector"] = "involvedObject.kind=FederatedWorkload,involvedObject.name=web";
  rest::RestResponse resp = fed.server().handler().Handle(req);
  ASSERT_EQ(resp.code, 200) << resp.Body();
  json list = json::parse(resp.Body());
  EXPECT_EQ(list["kind"], "EventList");
  ASSERT_EQ(list["items"].size(), 2u);
  for (const json& e : list["items"]) EXPECT_EQ(e["involvedObject"]["name"], "web");

  // kubectl's `get events` columns come from the server's Table.
  req.query.clear();
  req.headers["accept"] = "application/json;as=Table;v=v1;g=meta.k8s.io";
  resp = fed.server().handler().Handle(req);
  ASSERT_EQ(resp.code, 200) << resp.Body();
  json table = json::parse(resp.Body());
  std::vector<std::string> columns;
  for (const json& c : table["columnDefinitions"]) columns.push_back(c["name"]);
  EXPECT_EQ(columns, (std::vector<std::string>{"Name", "Last Seen", "Type", "Reason", "Object",
                                               "Count", "Message"}));
  EXPECT_EQ(table["rows"].size(), 3u);
}

}  // namespace
}  // namespace meridian::apiserver
