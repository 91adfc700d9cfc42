// Residency audit end to end (issue 14): membersim (a US and an EU member) and the
// federation-apiserver with every controller as real processes on free loopback ports. A
// Deployment created by hand (straight to membersim, as kubectl would) in namespace payments
// of the US member, where ResidencyPolicy payments-eu-only allows only the EU, is reported by
// the residency-audit controller within 5 s as a ResidencyViolation Event naming the member
// and the object; the same Deployment in the EU member is not.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kMembersim[] = R"(defaults:
  podReadyDelay: 1s
  node: {cpu: "4", memory: 8Gi, pods: 110}
clusters:
  - {name: us-east-1, region: us-east, jurisdiction: us, zones: [{name: us-east-1a, nodes: 1}]}
  - {name: eu-west-1, region: eu-west, jurisdiction: eu, zones: [{name: eu-west-1a, nodes: 1}]}
)";

std::string Federation(int sim_port) {
  std::string out = test_env::MemberClustersYaml(
      "http://127.0.0.1:" + std::to_string(sim_port),
      {{"us-east-1", "us-east", "us"}, {"eu-west-1", "eu-west", "eu"}});
  out += R"(---
apiVersion: v1
kind: Namespace
metadata: {name: payments}
---
apiVersion: federation.meridian.io/v1alpha1
kind: ResidencyPolicy
metadata: {name: payments-eu-only}
spec: {namespaces: [payments], jurisdictions: [eu]}
)";
  return out;
}

// POSTs `body` to membersim's member API, as kubectl create would.
bool Post(const std::string& url, const json& body) {
  test_env::CommandResult r = test_env::RunCommand(
      "curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' -d '" + body.dump() +
      "' '" + url + "'");
  return r.exit_code == 0;
}

json HandMadeDeployment(const std::string& name, const std::string& app = "ledger",
                        int replicas = 1) {
  return json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": ")" +
                     name + R"(", "namespace": "payments", "labels": {"app": ")" + app +
                     R"("}},
    "spec": {"replicas": )" +
                     std::to_string(replicas) + R"(, "selector": {"matchLabels": {"app": ")" + app +
                     R"("}},
             "template": {"metadata": {"labels": {"app": ")" +
                     app + R"("}},
                          "spec": {"containers": [{"name": "c", "image": "ledger:1"}]}}}})");
}

// The messages of the federation's Events with `reason`.
std::vector<std::string> EventMessages(test_env::E2EFederation& fed, const std::string& reason) {
  json events = fed.Api("/api/v1/namespaces/default/events?fieldSelector=reason%3D" + reason);
  std::vector<std::string> messages;
  if (!events.is_object()) return messages;
  for (const json& e : events.value("items", json::array())) {
    messages.push_back(e.value("message", ""));
  }
  return messages;
}

TEST(ResidencyAuditE2E, AHandMadeDeploymentInAUsMemberIsReportedWithinFiveSeconds) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("meridian-residency-audit-e2e-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  test_env::WriteFile(dir / "membersim.yaml", kMembersim);
  test_env::E2EFederation fed;
  std::string error;
  ASSERT_TRUE(fed.Start({.bin_dir = test_env::BinDir(),
                         .dir = dir,
                         .membersim_config = (dir / "membersim.yaml").string()},
                        &error))
      << error;
  test_env::WriteFile(dir / "federation.yaml", Federation(fed.sim_port()));
  auto applied = fed.Fedctl("apply -f " + (dir / "federation.yaml").string());
  ASSERT_EQ(applied.exit_code, 0) << applied.output;

  for (const std::string member : {"us-east-1", "eu-west-1"}) {
    const std::string base = fed.sim_url() + "/clusters/" + member;
    // May already exist (409): what matters is the Deployment below.
    Post(base + "/api/v1/namespaces",
         {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "payments"}}}});
  }
  const auto created = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      Post(fed.sim_url() + "/clusters/us-east-1/apis/apps/v1/namespaces/payments/deployments",
           HandMadeDeployment("rogue")));
  ASSERT_TRUE(
      Post(fed.sim_url() + "/clusters/eu-west-1/apis/apps/v1/namespaces/payments/deployments",
           HandMadeDeployment("fine")));

  const std::string expected =
      "member us-east-1 (us) holds Deployment payments/rogue (allowed by payments-eu-only: eu; "
      "intersection: eu)";
  std::vector<std::string> messages;
  const bool reported = test_env::PollUntil(milliseconds(5000), milliseconds(100), [&] {
    json events =
        fed.Api("/api/v1/namespaces/default/events?fieldSelector=reason%3DResidencyViolation");
    messages.clear();
    if (!events.is_object()) return false;
    for (const json& e : events.value("items", json::array())) {
      messages.push_back(e.value("message", ""));
    }
    return std::find(messages.begin(), messages.end(), expected) != messages.end();
  });
  const auto took =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - created);
  EXPECT_TRUE(reported) << "not reported within 5 s; events: "
                        << ::testing::PrintToString(messages);
  std::printf("residency violation reported after %lld ms\n", static_cast<long long>(took.count()));
  for (const std::string& m : messages) {
    EXPECT_EQ(m.find("fine"), std::string::npos) << "an EU object is compliant: " << m;
  }

  // fedctl shows it (exit code 1: something is open); deleting it resolves it.
  test_env::CommandResult shown = fed.Fedctl("residency violations");
  EXPECT_EQ(shown.exit_code, 1) << shown.output;
  EXPECT_NE(shown.output.find(expected), std::string::npos) << shown.output;
  EXPECT_NE(shown.output.find("payments-eu-only"), std::string::npos) << shown.output;
  ASSERT_EQ(test_env::RunCommand("curl -fsS --max-time 5 -X DELETE '" + fed.sim_url() +
                                 "/clusters/us-east-1/apis/apps/v1/namespaces/payments/"
                                 "deployments/rogue'")
                .exit_code,
            0);
  test_env::CommandResult after;
  EXPECT_TRUE(test_env::PollUntil(milliseconds(5000), milliseconds(200), [&] {
    after = fed.Fedctl("residency violations");
    return after.exit_code == 0;
  })) << after.output;
  EXPECT_NE(after.output.find("No residency violations."), std::string::npos) << after.output;

  // enforcement: remove. A Deployment with the payments workload's labels and an unmanaged
  // one (other labels) in payments of the US member: reported and scaled to zero within 5 s.
  test_env::WriteFile(dir / "remove.yaml", R"(apiVersion: federation.meridian.io/v1alpha1
kind: ResidencyPolicy
metadata: {name: payments-eu-only}
spec: {namespaces: [payments], jurisdictions: [eu], enforcement: remove}
)");
  auto removed = fed.Fedctl("apply -f " + (dir / "remove.yaml").string());
  ASSERT_EQ(removed.exit_code, 0) << removed.output;
  const std::string us = fed.sim_url() + "/clusters/us-east-1";
  ASSERT_TRUE(Post(us + "/api/v1/namespaces/payments/persistentvolumeclaims",
                   json::parse(R"({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": {"name": "data", "namespace": "payments"},
                     "spec": {"accessModes": ["ReadWriteOnce"],
                              "resources": {"requests": {"storage": "1Gi"}}}})")));
  const auto enforced_from = std::chrono::steady_clock::now();
  ASSERT_TRUE(Post(us + "/apis/apps/v1/namespaces/payments/deployments",
                   HandMadeDeployment("copy", "ledger", 3)));
  ASSERT_TRUE(Post(us + "/apis/apps/v1/namespaces/payments/deployments",
                   HandMadeDeployment("unmanaged", "batch-tools", 2)));
  for (const std::string name : {"copy", "unmanaged"}) {
    const std::string violation = "member us-east-1 (us) holds Deployment payments/" + name;
    EXPECT_TRUE(test_env::PollUntil(milliseconds(5000), milliseconds(100),
                                    [&] {
                                      for (const std::string& m :
                                           EventMessages(fed, "ResidencyViolation")) {
                                        if (m.rfind(violation, 0) == 0) return true;
                                      }
                                      return false;
                                    }))
        << name << " not reported within 5 s";
    json d;
    EXPECT_TRUE(test_env::PollUntil(
        milliseconds(5000), milliseconds(100),
        [&] {
          d = test_env::GetJson(us + "/apis/apps/v1/namespaces/payments/deployments/" + name);
          return d.is_object() && d["spec"].value("replicas", -1) == 0;
        }))
        << name << " not scaled to zero within 5 s: " << d.dump();
  }
  const auto took_enforced =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - enforced_from);
  std::printf("both reported and scaled to zero after %lld ms\n",
              static_cast<long long>(took_enforced.count()));
  std::vector<std::string> enforced = EventMessages(fed, "ResidencyEnforced");
  EXPECT_NE(std::find(enforced.begin(), enforced.end(),
                      "scaled Deployment payments/copy in member us-east-1 (us) from 3 to 0 "
                      "replicas (payments-eu-only: enforcement: remove)"),
            enforced.end())
      << ::testing::PrintToString(enforced);
  // Their Pods go (membersim's Deployment controller follows); the PVC stays.
  EXPECT_TRUE(test_env::PollUntil(milliseconds(5000), milliseconds(100), [&] {
    json pods = test_env::GetJson(us + "/api/v1/namespaces/payments/pods");
    return pods.is_object() && pods.value("items", json::array()).empty();
  }));
  EXPECT_TRUE(test_env::GetJson(us + "/api/v1/namespaces/payments/persistentvolumeclaims/data")
                  .is_object());
  // The policy's status says so; fedctl shows it.
  test_env::CommandResult got = fed.Fedctl("get residencypolicies");
  EXPECT_EQ(got.exit_code, 0) << got.output;
  EXPECT_TRUE(test_env::PollUntil(milliseconds(5000), milliseconds(200), [&] {
    got = fed.Fedctl("get residencypolicies");
    return got.output.find("False") != std::string::npos;
  })) << got.output;
  EXPECT_NE(got.output.find("COMPLIANT"), std::string::npos) << got.output;
  fed.Stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace meridian
