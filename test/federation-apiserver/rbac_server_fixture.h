// A real FederationApiServer with token authentication and RBAC (SQLite in a per-test temp
// dir), driven through its RestHandler: the shared set-up of the tests that ask it as
// different users (rbac_test, what_if_review_test).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/clock.h"
#include "federation-apiserver/server.h"

namespace meridian::apiserver {

class RbacServerFixture : public ::testing::Test {
 protected:
  // Starts the server in a fresh temp dir named after `prefix` and the test, with the static
  // token file `tokens_csv` ("token,user,uid[,groups]" lines).
  void StartServer(const std::string& prefix, const std::string& tokens_csv) {
    dir_ = std::filesystem::temp_directory_path() /
           (prefix + "-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "tokens.csv") << tokens_csv;
    OpenServer();
  }
  // Stops the server and starts a new one on the same store and token file (a restart).
  void RestartServer() {
    server_.reset();
    OpenServer();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  apimachinery::rest::RestResponse Call(const std::string& token, const std::string& method,
                                        const std::string& path,
                                        const nlohmann::json& body = nullptr) {
    apimachinery::rest::RestRequest r;
    r.method = method;
    r.path = path;
    r.headers["authorization"] = "Bearer " + token;
    r.headers["content-type"] = "application/json";
    if (!body.is_null()) r.body = body.dump();
    return server_->handler().Handle(r);
  }

  // Waits (bounded) until the authorizer has seen the RBAC writes made so far: watch events
  // arrive on the store's dispatcher thread.
  void AwaitAllowed(const std::string& token, const nlohmann::json& attrs, bool want = true) {
    for (int i = 0; i < 500; ++i) {
      apimachinery::rest::RestResponse r =
          Call(token, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
               {{"spec", {{"resourceAttributes", attrs}}}});
      ASSERT_EQ(r.code, 201) << r.Body();
      if (nlohmann::json::parse(r.Body())["status"]["allowed"] == want) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "authorizer never answered " << want << " for " << attrs.dump();
  }

  // Binds `user` to ClusterRole `role` (a ClusterRoleBinding "<user>-binding", created as
  // admin-token, which the caller's token file must hold in system:masters).
  void BindClusterRole(const std::string& user, const std::string& role) {
    nlohmann::json binding = {
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "ClusterRoleBinding"},
        {"metadata", {{"name", user + "-binding"}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", role}}},
        {"subjects", nlohmann::json::array({{{"kind", "User"}, {"name", user}}})}};
    ASSERT_EQ(
        Call("admin-token", "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
            .code,
        201);
  }
  // resourceAttributes of a federation.meridian.io resource, for AwaitAllowed.
  static nlohmann::json Attrs(const std::string& verb, const std::string& resource) {
    return {{"verb", verb}, {"resource", resource}, {"group", "federation.meridian.io"}};
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<FederationApiServer> server_;
  // Applied to the options of every server the fixture opens (after its own settings).
  std::function<void(ServerOptions&)> configure_server_;

 private:
  void OpenServer() {
    ServerOptions options;
    options.storage = "sqlite:" + (dir_ / "db").string();
    options.token_auth_file = (dir_ / "tokens.csv").string();
    options.authorization_mode = "RBAC";
    if (configure_server_) configure_server_(options);
    auto server = FederationApiServer::Create(options, clock_);
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
  }
};

}  // namespace meridian::apiserver
