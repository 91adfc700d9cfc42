// A federation-apiserver in the test process (SQLite in a temp dir, a FakeClock), for
// controller tests that read and write through the same ObjectService the real binary uses.
// Derive a fixture from InProcessFederationTest, or hold an InProcessFederation.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "api/yaml.h"
#include "common/clock.h"
#include "federation-apiserver/server.h"
#include "test/common/test_env.h"

namespace meridian::test_env {

class InProcessFederation {
 public:
  explicit InProcessFederation(const std::string& tag) {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter_));
    std::filesystem::remove_all(dir_);
    apiserver::ServerOptions options;
    options.storage = "sqlite:" + (dir_ / "fed.db").string();
    server_ = apiserver::FederationApiServer::Create(options, clock_).value();
  }
  ~InProcessFederation() {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  FakeClock& clock() { return clock_; }
  apiserver::FederationApiServer& server() { return *server_; }
  apimachinery::ObjectService& objects() { return server_->objects(); }

  // The registered resource for an apiVersion ("federation.meridian.io/v1alpha1", "v1") and kind.
  const apimachinery::ResourceInfo& Info(const std::string& api_version, const std::string& kind) {
    size_t slash = api_version.find('/');
    std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
    const apimachinery::ResourceInfo* info = server_->registry().FindKind(group, kind);
    EXPECT_NE(info, nullptr) << kind;
    return *info;
  }

  // Creates an object through the API (admission included); a failure fails the test.
  void Apply(const nlohmann::json& object) {
    const auto& info = Info(object["apiVersion"], object["kind"]);
    auto r = objects().Create(info, object["metadata"].value("namespace", ""), object);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  // Applies every document of a YAML file, by path relative to the repository.
  void ApplyFile(const std::string& relative) {
    std::ifstream in(SourceDir() + "/" + relative);
    ASSERT_TRUE(in) << relative;
    std::stringstream ss;
    ss << in.rdbuf();
    auto docs = api::ParseYamlDocuments(ss.str(), relative);
    ASSERT_TRUE(docs.ok()) << docs.status();
    for (const api::YamlDocument& d : *docs) Apply(d.value);
  }

 private:
  static inline int counter_ = 0;
  FakeClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<apiserver::FederationApiServer> server_;
};

// A FederatedWorkload `shop/NAME` of one Deployment (one nginx container, app=x) with
// `replicas` and no placement constraints: what the controller tests create in bulk.
inline nlohmann::json DeploymentWorkloadJson(const std::string& name, int replicas) {
  nlohmann::json w = nlohmann::json::parse(R"({
    "apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"namespace": "shop"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {},
             "spec": {"selector": {"matchLabels": {"app": "x"}},
                      "template": {"metadata": {"labels": {"app": "x"}},
                                   "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}},
             "placement": {}}})");
  w["metadata"]["name"] = name;
  w["spec"]["template"]["metadata"]["name"] = name;
  w["spec"]["template"]["spec"]["replicas"] = replicas;
  return w;
}

}  // namespace meridian::test_env
