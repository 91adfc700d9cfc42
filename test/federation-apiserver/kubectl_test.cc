// kubectl against the real federation-apiserver, as a new user would use it.
#include <gtest/gtest.h>

#include <fstream>

#include "test/federation-apiserver/apiserver_process.h"

namespace meridian::apiserver {
namespace {

using test_env::CommandResult;
using test_env::RunCommand;

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunCommand("command -v kubectl").exit_code != 0) {
      GTEST_SKIP() << "kubectl is not installed on this machine; skipping the kubectl tests";
    }
    std::string error = server_.Start();
    ASSERT_EQ(error, "");
    kubectl_ = "kubectl --server " + server_.url() + " --request-timeout=20s ";
  }

  CommandResult Kubectl(const std::string& args) { return RunCommand(kubectl_ + args); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (server_.dir() / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // Everything stored, to prove a rejected request changed nothing.
  std::string Snapshot() {
    return Kubectl("get fw,mc,topology,ns -A -o jsonpath='{range .items[*]}{.metadata.name}/{.metadata.resourceVersion} {end}'").output;
  }

  std::string Examples() { return test_env::SourceDir() + "/examples/three-continents/"; }

  testing::ApiserverProcess server_;
  std::string kubectl_;
};

TEST_F(KubectlTest, ApplyGetExplainAndReapplyTheThreeContinentsExample) {
  CommandResult applied = Kubectl("apply -f " + Examples());
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  for (const char* line : {"membercluster.federation.meridian.io/eu-west-1 created",
                           "topology.federation.meridian.io/default created",
                           "namespace/shop created",
                           "federatedworkload.federation.meridian.io/web created"}) {
    EXPECT_NE(applied.output.find(line), std::string::npos) << line << "\n" << applied.output;
  }
  CommandResult list = Kubectl("get federatedworkloads -A");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("shop        web"), std::string::npos) << list.output;
  CommandResult yaml = Kubectl("get fw web -n shop -o yaml");
  EXPECT_NE(yaml.output.find("kind: FederatedWorkload"), std::string::npos) << yaml.output;
  EXPECT_NE(yaml.output.find("generation: 1"), std::string::npos) << yaml.output;
  CommandResult members = Kubectl("get mc");
  EXPECT_NE(members.output.find("eu-central-1   eu-central   eu"), std::string::npos)
      << members.output;
  CommandResult explain = Kubectl("explain federatedworkload.spec.placement");
  EXPECT_EQ(explain.exit_code, 0) << explain.output;
  EXPECT_NE(explain.output.find("residency"), std::string::npos) << explain.output;
  CommandResult again = Kubectl("apply -f " + Examples());
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("federatedworkload.federation.meridian.io/web unchanged"),
            std::string::npos)
      << again.output;
  EXPECT_EQ(again.output.find("configured"), std::string::npos) << again.output;
}

// `kubectl get fw` prints the server's Table columns (issue 16): REGIONS by default, the
// per-cluster PLACEMENT only with -o wide (a priority-1 column), as `fedctl get fw` does.
TEST_F(KubectlTest, GetFwShowsTheServersPrinterColumns) {
  ASSERT_EQ(Kubectl("apply -f " + Examples()).exit_code, 0);
  CommandResult get = Kubectl("get fw -n shop");
  ASSERT_EQ(get.exit_code, 0) << get.output;
  const std::string header = get.output.substr(0, get.output.find('\n'));
  for (const char* column : {"NAME", "READY", "DESIRED", "UNPLACED", "REGIONS", "AGE"}) {
    EXPECT_NE(header.find(column), std::string::npos) << column << " in:\n" << get.output;
  }
  EXPECT_EQ(header.find("PLACEMENT"), std::string::npos) << get.output;
  EXPECT_NE(get.output.find("\nweb "), std::string::npos) << get.output;
  CommandResult wide = Kubectl("get fw -n shop -o wide");
  ASSERT_EQ(wide.exit_code, 0) << wide.output;
  EXPECT_NE(wide.output.substr(0, wide.output.find('\n')).find("PLACEMENT"), std::string::npos)
      << wide.output;
}

// WhatIfReview is create-only and never stored; kubectl finds it through discovery, as it
// finds SubjectAccessReview, and prints the answer.
TEST_F(KubectlTest, CreateWhatIfReviewPrintsTheAnswer) {
  ASSERT_EQ(Kubectl("apply -f " + Examples()).exit_code, 0);
  const std::string review = Write("review.yaml",
                                   "apiVersion: federation.meridian.io/v1alpha1\n"
                                   "kind: WhatIfReview\n"
                                   "spec:\n"
                                   "  failures:\n"
                                   "    - region: eu-west\n");
  CommandResult created = Kubectl("create -f " + review +
                                  " -o jsonpath='{.status.affected[0].namespace}/"
                                  "{.status.affected[0].name} {.status.unaffected}'");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_EQ(created.output, "shop/web 0") << created.output;
  CommandResult resources = Kubectl("api-resources --api-group federation.meridian.io");
  EXPECT_NE(resources.output.find("whatifreviews"), std::string::npos) << resources.output;
  CommandResult get = Kubectl("get whatifreviews");
  EXPECT_NE(get.exit_code, 0) << get.output;  // create-only: nothing to list
}

TEST_F(KubectlTest, BadInputIsRejectedClearlyAndChangesNothing) {
  ASSERT_EQ(Kubectl("apply -f " + Examples()).exit_code, 0);
  std::string before = Snapshot();
  ASSERT_NE(before, "");
  struct Case {
    std::string name, file_text, expected;
  };
  std::vector<Case> cases = {
      {"invalid workload",
       "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
       "metadata: {name: web, namespace: shop}\n"
       "spec:\n  template: {apiVersion: apps/v1, kind: Deployment, spec: {replicas: -2}}\n"
       "  placement: {distribution: {weights: {mars: 2}}}\n",
       "spec.placement.distribution.weights.mars: unknown region or cluster"},
      {"negative replicas",
       "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
       "metadata: {name: web, namespace: shop}\n"
       "spec:\n  template: {apiVersion: apps/v1, kind: Deployment, spec: {replicas: -2}}\n",
       "spec.template.spec.replicas: must be >= 0"},
      {"template typo",
       "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
       "metadata: {name: web, namespace: shop}\n"
       "spec:\n  template: {apiVersion: apps/v1, kind: Deployment, spec: {replicaz: 40}}\n",
       "spec.template.spec.replicaz: unknown field \"replicaz\""},
      {"template missing image",
       "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
       "metadata: {name: api, namespace: shop}\n"
       "spec:\n  template: {apiVersion: v1, kind: Pod, spec: {containers: [{name: api}]}}\n",
       "spec.template.spec.containers[0].image: required"},
      {"wrong type",
       "apiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\n"
       "metadata: {name: eu-west-1}\nspec: {server: http://x, region: [eu], jurisdiction: eu}\n",
       "spec.region: must be a string"},
      {"unknown kind", "apiVersion: federation.meridian.io/v1alpha1\nkind: Widget\nmetadata: {name: x}\n",
       "no matches for kind \"Widget\""},
      {"malformed yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: [x\n",
       "error converting YAML to JSON"},
  };
  for (const Case& c : cases) {
    CommandResult r = Kubectl("apply -f " + Write("bad.yaml", c.file_text));
    EXPECT_NE(r.exit_code, 0) << c.name;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.name << ":\n" << r.output;
  }
  // A server-side dry run refuses the template typo the same way.
  CommandResult dry = Kubectl(
      "apply --dry-run=server -f " +
      Write("typo.yaml",
            "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
            "metadata: {name: web, namespace: shop}\n"
            "spec:\n  template: {apiVersion: apps/v1, kind: Deployment, spec: {replicas: \"40\"}}\n"));
  EXPECT_NE(dry.exit_code, 0);
  EXPECT_NE(dry.output.find("spec.template.spec.replicas: must be an integer"),
            std::string::npos)
      << dry.output;
  EXPECT_EQ(Snapshot(), before) << "a rejected request must not change what is stored";
  // A body over 3 MiB.
  std::string big = "apiVersion: v1\nkind: Secret\nmetadata: {name: big, namespace: default}\n"
                    "stringData: {x: \"" + std::string(3 * 1024 * 1024 + 10, 'a') + "\"}\n";
  CommandResult too_big = Kubectl("create -f " + Write("big.yaml", big));
  EXPECT_NE(too_big.exit_code, 0);
  EXPECT_NE(too_big.output.find("RequestEntityTooLarge"), std::string::npos) << too_big.output.substr(0, 500);
  // A stale resourceVersion.
  CommandResult current = Kubectl("get fw web -n shop -o json");
  ASSERT_EQ(current.exit_code, 0);
  std::string stale = Write("stale.json", current.output);
  ASSERT_EQ(Kubectl("label fw web -n shop touched=yes").exit_code, 0);
  before = Snapshot();
  CommandResult conflict = Kubectl("replace -f " + stale);
  EXPECT_NE(conflict.exit_code, 0);
  EXPECT_NE(conflict.output.find("the object has been modified"), std::string::npos) << conflict.output;
  EXPECT_EQ(Snapshot(), before) << "a rejected request must not change what is stored";
}

TEST_F(KubectlTest, WatchSeesChangesAndDeleteRemoves) {
  ASSERT_EQ(Kubectl("apply -f " + Examples()).exit_code, 0);
  test_env::ChildProcess watch;
  std::string error;
  ASSERT_TRUE(watch.Start({"/bin/sh", "-c",
                           "exec " + kubectl_ + "get fw -n shop -w -o 'jsonpath={.metadata.generation}{\"\\n\"}'"},
                          &error))
      << error;
  watch.WaitForLine("1", std::chrono::seconds(20), &error);
  EXPECT_EQ(error, "");
  ASSERT_EQ(Kubectl("patch fw web -n shop --type merge -p '{\"spec\":{\"template\":{\"spec\":{\"replicas\":60}}}}'").exit_code, 0);
  watch.WaitForLine("2", std::chrono::seconds(20), &error);
  EXPECT_EQ(error, "");
  CommandResult deleted = Kubectl("delete fw web -n shop");
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  CommandResult gone = Kubectl("get fw web -n shop");
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.output.find("NotFound"), std::string::npos) << gone.output;
}

// A CustomResourceDefinition as a new user registers one (issue 18): kubectl apply, wait for
// Established, apply/get/re-apply a custom object by its name and short name, a bad one
// refused by the server, explain from the CRD's schema, and delete (its objects go with it).
TEST_F(KubectlTest, RegisterACrdThenApplyGetAndDeleteCustomObjects) {
  const std::string crd = Write("crd.yaml", R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: string, enum: [small, large]}
              replicas: {type: integer, minimum: 1}
)");
  const std::string widget = R"(apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: default, labels: {tier: a}}
spec: {size: small, replicas: REPLICAS}
)";
  auto widget_file = [&](int replicas) {
    std::string text = widget;
    text.replace(text.find("REPLICAS"), 8, std::to_string(replicas));
    return Write("widget.yaml", text);
  };
  CommandResult applied = Kubectl("apply -f " + crd);
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  CommandResult established =
      Kubectl("wait --for condition=established crd/widgets.example.com --timeout=20s");
  ASSERT_EQ(established.exit_code, 0) << established.output;

  CommandResult created = Kubectl("apply -f " + widget_file(2));
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_NE(created.output.find("widget.example.com/w1 created"), std::string::npos);
  CommandResult get = Kubectl("get widgets");
  ASSERT_EQ(get.exit_code, 0) << get.output;
  EXPECT_NE(get.output.find("SIZE"), std::string::npos) << get.output;
  EXPECT_NE(get.output.find("small"), std::string::npos) << get.output;
  EXPECT_EQ(Kubectl("get wd -l tier=a -o name").output, "widget.example.com/w1\n");
  EXPECT_NE(Kubectl("apply -f " + widget_file(2)).output.find("unchanged"), std::string::npos);
  EXPECT_NE(Kubectl("apply -f " + widget_file(3)).output.find("configured"), std::string::npos);
  EXPECT_EQ(Kubectl("get wd w1 -o jsonpath={.spec.replicas}").output, "3");

  const std::string bad = Write("bad.yaml", R"(apiVersion: example.com/v1
kind: Widget
metadata: {name: w2, namespace: default}
spec: {size: huge, replicas: 0}
)");
  CommandResult refused = Kubectl("apply -f " + bad);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("spec.size: Unsupported value: \"huge\""), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("spec.replicas: Invalid value: 0"), std::string::npos);
  CommandResult explain = Kubectl("explain widget.spec");
  EXPECT_NE(explain.output.find("KIND:       Widget"), std::string::npos) << explain.output;

  CommandResult deleted = Kubectl("delete crd widgets.example.com");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  CommandResult gone = Kubectl("get widgets");
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.output.find("NotFound"), std::string::npos) << gone.output;
}

}  // namespace
}  // namespace meridian::apiserver
