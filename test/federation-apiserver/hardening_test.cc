// Hostile input against the real federation-apiserver binary on loopback (issue 22): bodies
// that used to crash it or get stored are refused with a Kubernetes Status, and the process
// keeps serving.
#include <gtest/gtest.h>
// clang-format off: gtest before cpprestsdk, whose U() macro breaks gtest's templates
#include <cpprest/http_client.h>
#include <nlohmann/json.hpp>
// clang-format on

#include <string>
#include <vector>

#include "test/federation-apiserver/apiserver_process.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace http = web::http;

struct Answer {
  int code = 0;  // 0: no answer (the connection died)
  json body;
};

Answer Send(http::client::http_client& client, const http::method& method, const std::string& path,
            const std::string& body, const std::string& content_type = "application/json") {
  try {
    http::http_request req(method);
    req.set_request_uri(path);
    if (!body.empty()) req.set_body(body, content_type);
    http::http_response resp = client.request(req).get();
    return {resp.status_code(), json::parse(resp.extract_utf8string(true).get(), nullptr, false)};
  } catch (const std::exception&) {
    return {};
  }
}

// A FederatedWorkload whose spec.template is `depth` objects deep.
std::string DeepWorkload(const std::string& name, int depth) {
  std::string s = R"({"apiVersion":"federation.meridian.io/v1alpha1","kind":"FederatedWorkload",)"
                  R"("metadata":{"name":")" +
                  name + R"(","namespace":"default"},"spec":{"template":)";
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  s.append(depth, '}');
  return s + "}}";
}

TEST(HardeningTest, DeepTemplatesAreRefusedAndTheServerStaysUp) {
  testing::ApiserverProcess server;
  ASSERT_EQ(server.Start(), "");
  http::client::http_client client(server.url());
  const std::string coll =
      "/apis/federation.meridian.io/v1alpha1/namespaces/default/federatedworkloads";
  // 70,000 and 100,000 levels overflowed the stack before; 50,000 was stored and propagated.
  for (int depth : {50'000, 70'000, 100'000}) {
    SCOPED_TRACE(depth);
    Answer a = Send(client, http::methods::POST, coll, DeepWorkload("deep", depth));
    ASSERT_EQ(a.code, 400) << a.body.dump().substr(0, 300);
    EXPECT_EQ(a.body["kind"], "Status");
    EXPECT_EQ(a.body["reason"], "BadRequest");
    const std::string message = a.body["message"];
    EXPECT_NE(message.find("spec.template.a.a.a.a ... (992 more) ... .a.a: nesting depth "
                           "exceeds the limit of 1000"),
              std::string::npos)
        << message;
    ASSERT_EQ(Send(client, http::methods::GET, "/healthz", "").code, 200);  // still up
  }
  Answer listed = Send(client, http::methods::GET, coll, "");
  ASSERT_EQ(listed.code, 200);
  EXPECT_TRUE(listed.body["items"].empty());
  EXPECT_EQ(Send(client, http::methods::GET, "/healthz", "").code, 200);
}

}  // namespace
}  // namespace meridian::apiserver
