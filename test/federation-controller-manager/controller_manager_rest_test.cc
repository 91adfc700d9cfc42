// federation-controller-manager --kubeconfig with the real binaries: a federation-apiserver on
// SQLite with token authentication and RBAC and no controllers of its own, membersim with two
// members, and two controller managers that reach the federation only through the API, with
// a token of the user system:meridian:federation-controller-manager, which only the
// apiserver's built-in role and binding authorise (rbac/bootstrap.cc; not system:masters, no
// operator-applied RBAC). A FederatedWorkload applied through the API is placed and its
// replicas appear in the members (read from membersim); the leader is killed with SIGKILL and
// the other manager takes the Lease (served by the API) and goes on placing; the audit log
// shows the API refused the managers nothing. Also what the role does not grant (403 naming
// it), and the flags' clear startup errors.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "test/common/child_process.h"
#include "test/common/custom_resources.h"
#include "test/common/controller_manager_e2e.h"
#include "test/common/e2e_federation.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using test_env::RunCommand;

// The controller manager's user (federation-apiserver/rbac/authorizer.h).
constexpr char kManagerUser[] = "system:meridian:federation-controller-manager";

std::string Kubeconfig(const std::string& server, const std::string& token) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: fed\n"
         "clusters:\n- name: fed\n  cluster: {server: \"" +
         server +
         "\"}\n"
         "users:\n- name: cm\n  user: {token: " +
         token +
         "}\n"
         "contexts:\n- name: fed\n  context: {cluster: fed, user: cm}\n";
}

class ControllerManagerRestTest : public test_env::ControllerManagerE2eTest {
 protected:
  // membersim, and the apiserver on SQLite with tokens, RBAC, an audit log and no controllers.
  void StartFederation() {
    ASSERT_NO_FATAL_FAILURE(StartMembersim());
    test_env::WriteFile(dir_ / "tokens.csv",
                        "admin-token,admin,1,system:masters\n"
                        "cm-token," +
                            std::string(kManagerUser) +
                            ",2\n"
                            "nobody-token,nobody,3\n");
    admin_token_ = "admin-token";
    ASSERT_NO_FATAL_FAILURE(
        StartApiserver({"--storage", "sqlite:" + (dir_ / "fed.db").string(), "--controllers",
                        "none", "--token-auth-file", (dir_ / "tokens.csv").string(),
                        "--authorization-mode", "RBAC", "--audit-log-path", Audit()}));
    // RBAC reads bindings from a watch: wait until the built-in binding is in effect.
    ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(50), [&] {
      return Call("cm-token", "GET", "/api/v1/namespaces").code == 200;
    })) << "the manager's built-in binding never took effect";
    test_env::WriteFile(dir_ / "kubeconfig", Kubeconfig(api_url_, "cm-token"));
  }

  // Starts manager `i` on the kubeconfig.
  void StartManager(int i) {
    ASSERT_NO_FATAL_FAILURE(ControllerManagerE2eTest::StartManager(
        i, {"--kubeconfig", (dir_ / "kubeconfig").string()}));
  }
  std::string Audit() const { return (dir_ / "audit.log").string(); }

  struct Answer {
    int code = 0;
    json body;
  };
  // `method` `path` with `token`, a JSON `body` (when not null) and a `header` line (when not
  // empty): the HTTP code and body.
  Answer Call(const std::string& token, const std::string& method, const std::string& path,
              const json& body = nullptr, const std::string& header = "") {
    std::string data = header.empty() ? "" : " -H '" + header + "'";
    if (!body.is_null()) {
      test_env::WriteFile(dir_ / "body.json", body.dump());
      data +=
          " -H 'Content-Type: application/json' --data-binary @" + (dir_ / "body.json").string();
    }
    test_env::CommandResult r = RunCommand(
        "curl -sS --max-time 5 -o " + (dir_ / "answer.json").string() + " -w '%{http_code}' -X " +
        method + " -H 'Authorization: Bearer " + token + "'" + data + " '" + api_url_ + path + "'");
    Answer a;
    a.code = r.exit_code == 0 ? std::atoi(r.output.c_str()) : 0;
    a.body = json::parse(test_env::ReadFile((dir_ / "answer.json").string()), nullptr, false);
    return a;
  }
  // The fencing token manager `i` logged when it started leading ("" before that).
  std::string TokenOf(int i) {
    const std::string log = test_env::ReadFile(Log(i));
    const std::string mark = "fencing token for writes through the API: ";
    const size_t at = log.rfind(mark);
    if (at == std::string::npos) return "";
    return log.substr(at + mark.size(), log.find('\n', at) - at - mark.size());
  }
};

TEST_F(ControllerManagerRestTest, PlacesThroughTheApiAndTheStandbyTakesOverAfterKill9) {
  ASSERT_NO_FATAL_FAILURE(StartFederation());
  ASSERT_NO_FATAL_FAILURE(StartManager(0));
  ASSERT_NO_FATAL_FAILURE(StartManager(1));
  std::string holder;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(50), [&] {
    holder = Holder();
    return !holder.empty();
  })) << "no manager took the lease";
  ASSERT_TRUE(holder == "cm-0" || holder == "cm-1") << holder;
  const int lead = holder == "cm-0" ? 0 : 1;

  ASSERT_NO_FATAL_FAILURE(Apply("federation.yaml", test_env::TwoMemberFederation(sim_url_)));
  ASSERT_NO_FATAL_FAILURE(Apply("web.yaml", test_env::SpreadWorkload("web", 4)));
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30000), milliseconds(100),
                                  [&] { return MembersRun("web", 4); }))
      << "web never reached the members: " << json(MemberReplicas("web")).dump();
  // The placement was written through the API's /status (the leader's RestStore).
  json web = Get("admin-token", test_env::WorkloadPath("shop", "web"));
  EXPECT_EQ(test_env::Placement(web).size(), 2u) << web.dump();
  EXPECT_NE(test_env::ReadFile(Log(lead)).find("leading as " + holder), std::string::npos);
  EXPECT_EQ(test_env::ReadFile(Log(1 - lead)).find("leading as"), std::string::npos);

  milliseconds took_over{};
  ASSERT_NO_FATAL_FAILURE(KillLeaderAndAwaitTakeover(lead, &took_over));
  std::cout << "takeover after kill -9 (through the API): " << took_over.count() << " ms"
            << std::endl;
  ASSERT_NO_FATAL_FAILURE(ExpectTheLeaderPlaces(milliseconds(30000)));

  // The built-in role was enough: the API refused the managers nothing (audit log, one event
  // per request, the default policy's Metadata level). What they asked is printed: the role's
  // rules are derived from it (rbac/bootstrap.cc).
  std::set<std::string> asked, refused;
  std::istringstream audit(test_env::ReadFile(Audit()));
  for (std::string line; std::getline(audit, line);) {
    json event = json::parse(line, nullptr, false);
    if (!event.is_object() ||
        event.value("user", json::object()).value("username", "") != kManagerUser)
      continue;
    const json ref = event.value("objectRef", json::object());
    std::string what = event.value("verb", "") + " " + ref.value("apiGroup", "") + "/" +
                       ref.value("resource", "") +
                       (ref.contains("subresource") ? "/" + ref.value("subresource", "") : "");
    asked.insert(what);
    if (event.value("responseStatus", json::object()).value("code", 0) == 403) refused.insert(what);
  }
  EXPECT_FALSE(asked.empty()) << "no audit events of " << kManagerUser;
  EXPECT_TRUE(refused.empty()) << "refused: " << json(refused).dump();
  std::cout << "the managers asked: " << json(asked).dump() << std::endl;
}

// What the built-in role does not grant is refused with Kubernetes' 403, naming the verb,
// the resource and the user.
TEST_F(ControllerManagerRestTest, TheBuiltInRoleRefusesWhatTheManagerDoesNotDo) {
  ASSERT_NO_FATAL_FAILURE(StartFederation());
  ASSERT_NO_FATAL_FAILURE(Apply("federation.yaml", test_env::TwoMemberFederation(sim_url_)));
  ASSERT_NO_FATAL_FAILURE(Apply("web.yaml", test_env::SpreadWorkload("web", 2)));
  const std::string user = std::string("User \"") + kManagerUser + "\" cannot ";
  const std::string meridian = "/apis/federation.meridian.io/v1alpha1";
  struct Case {
    std::string method, path;
    json body;
    std::string message;  // the 403's, after "User "..." cannot "
  };
  const std::vector<Case> cases = {
      {"POST",
       meridian + "/residencypolicies",
       {{"apiVersion", "federation.meridian.io/v1alpha1"},
        {"kind", "ResidencyPolicy"},
        {"metadata", {{"name", "anywhere"}}}},
       "create resource \"residencypolicies\" in API group \"federation.meridian.io\" at the "
       "cluster scope"},
      {"PATCH", test_env::WorkloadPath("shop", "web"), json::object(),
       "patch resource \"federatedworkloads\" in API group \"federation.meridian.io\" in the "
       "namespace \"shop\""},
      {"PUT", meridian + "/memberclusters/us-east-1", json::object(),
       "update resource \"memberclusters\" in API group \"federation.meridian.io\" at the "
       "cluster scope"},
      {"PUT", meridian + "/residencypolicies/anywhere", json::object(),
       "update resource \"residencypolicies\" in API group \"federation.meridian.io\" at the "
       "cluster scope"},
      {"DELETE", meridian + "/memberclusters/us-east-1", nullptr,
       "delete resource \"memberclusters\" in API group \"federation.meridian.io\" at the "
       "cluster scope"},
      {"DELETE", "/api/v1/namespaces/shop", nullptr,
       "delete resource \"namespaces\" in API group \"\" in the namespace \"shop\""},
      {"GET", "/apis/coordination.k8s.io/v1/namespaces/meridian-system/leases/other", nullptr,
       "get resource \"leases\" in API group \"coordination.k8s.io\" in the namespace "
       "\"meridian-system\""},
      {"POST",
       "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
       {{"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "ClusterRoleBinding"},
        {"metadata", {{"name", "cm-root"}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"},
          {"kind", "ClusterRole"},
          {"name", "cluster-admin"}}},
        {"subjects", {{{"kind", "User"}, {"name", kManagerUser}}}}},
       "create resource \"clusterrolebindings\" in API group \"rbac.authorization.k8s.io\" at "
       "the cluster scope"},
  };
  for (const Case& c : cases) {
    Answer a = Call("cm-token", c.method, c.path, c.body);
    EXPECT_EQ(a.code, 403) << c.method << " " << c.path << ": " << a.body.dump();
    const std::string message = a.body.is_object() ? a.body.value("message", "") : "";
    EXPECT_NE(message.find(user + c.message), std::string::npos)
        << c.method << " " << c.path << ": " << message;
  }
  // And what it does is allowed: read a MemberCluster, write a workload's and a
  // MemberCluster's status, as the holder of the Lease (its writes carry its term's fencing
  // token; without one they are refused, federation-apiserver/leader_fencing.h).
  const std::string lease_path =
      "/apis/coordination.k8s.io/v1/namespaces/meridian-system/leases/"
      "federation-controller-manager";
  ASSERT_EQ(
      Call("cm-token", "POST", "/apis/coordination.k8s.io/v1/namespaces/meridian-system/leases",
           {{"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata", {{"name", "federation-controller-manager"}}},
            {"spec", {{"holderIdentity", "cm-x"}, {"leaseDurationSeconds", 2}}}})
          .code,
      201);
  ASSERT_EQ(Call("cm-token", "GET", lease_path).code, 200);
  const std::string fenced =
      "Meridian-Fencing-Token: lease=meridian-system/federation-controller-manager; "
      "transitions=0; holder=cm-x";
  EXPECT_EQ(Call("cm-token", "GET", meridian + "/memberclusters/us-east-1").code, 200);
  Answer web = Call("admin-token", "GET", test_env::WorkloadPath("shop", "web"));
  ASSERT_EQ(web.code, 200);
  web.body["status"]["observedGeneration"] = 1;
  Answer unfenced =
      Call("cm-token", "PUT", test_env::WorkloadPath("shop", "web") + "/status", web.body);
  EXPECT_EQ(unfenced.code, 403) << unfenced.body.dump();
  EXPECT_NE(unfenced.body.dump().find("must send its leader's fencing token"), std::string::npos)
      << unfenced.body.dump();
  Answer status =
      Call("cm-token", "PUT", test_env::WorkloadPath("shop", "web") + "/status", web.body, fenced);
  EXPECT_EQ(status.code, 200) << status.body.dump();
  // A MemberCluster's status through /status; the spec in the same body is ignored.
  Answer member = Call("admin-token", "GET", meridian + "/memberclusters/us-east-1");
  ASSERT_EQ(member.code, 200);
  const json spec = member.body["spec"];
  member.body["spec"]["region"] = "elsewhere";
  member.body["status"]["kubernetesVersion"] = "v1.30.0-written-through-status";
  Answer written =
      Call("cm-token", "PUT", meridian + "/memberclusters/us-east-1/status", member.body, fenced);
  ASSERT_EQ(written.code, 200) << written.body.dump();
  Answer after = Call("admin-token", "GET", meridian + "/memberclusters/us-east-1");
  EXPECT_EQ(after.body["spec"], spec) << after.body.dump();
  EXPECT_EQ(after.body["status"].value("kubernetesVersion", ""), "v1.30.0-written-through-status")
      << after.body.dump();
}

// A leader paused past its lease (SIGSTOP) while a standby takes over: the server refuses a
// write that carries the old term's fencing token (409, naming the new holder), as it would
// the paused leader's write still in hand when it resumes; the new leader's writes, with its
// own token, go through; the resumed old leader exits.
TEST_F(ControllerManagerRestTest, AStaleLeadersTokenIsRefusedAfterATakeover) {
  ASSERT_NO_FATAL_FAILURE(StartFederation());
  ASSERT_NO_FATAL_FAILURE(StartManager(0));
  ASSERT_NO_FATAL_FAILURE(StartManager(1));
  std::string holder;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(50),
                                  [&] {
                                    holder = Holder();
                                    return !holder.empty() &&
                                           !TokenOf(holder == "cm-0" ? 0 : 1).empty();
                                  }))
      << "no manager took the lease; holder " << Holder();
  const int lead = holder == "cm-0" ? 0 : 1;
  const std::string standby = "cm-" + std::to_string(1 - lead);
  const std::string old_token = TokenOf(lead);
  EXPECT_NE(old_token.find("; holder=" + holder), std::string::npos) << old_token;

  ASSERT_NO_FATAL_FAILURE(Apply("federation.yaml", test_env::TwoMemberFederation(sim_url_)));
  ASSERT_NO_FATAL_FAILURE(Apply("web.yaml", test_env::SpreadWorkload("web", 4)));
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30000), milliseconds(100),
                                  [&] { return MembersRun("web", 4); }))
      << "web never reached the members: " << json(MemberReplicas("web")).dump();

  // Paused past its lease (2 s): the standby takes over, with the next term.
  const pid_t pid = cms_[lead].pid();
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  ASSERT_TRUE(
      test_env::PollUntil(milliseconds(15000), milliseconds(20),
                          [&] { return Holder() == standby && !TokenOf(1 - lead).empty(); }))
      << "the standby never took the lease from the paused leader; holder " << Holder();
  const std::string new_token = TokenOf(1 - lead);
  EXPECT_NE(new_token.find("; holder=" + standby), std::string::npos) << new_token;
  EXPECT_NE(new_token, old_token);

  // The write the paused leader had in hand: its status of web, with its token.
  const std::string status_path = test_env::WorkloadPath("shop", "web") + "/status";
  Answer web = Call("admin-token", "GET", test_env::WorkloadPath("shop", "web"));
  ASSERT_EQ(web.code, 200);
  json stale_status = web.body;
  stale_status["status"]["observedGeneration"] = 99;
  stale_status["metadata"].erase("resourceVersion");
  Answer stale =
      Call("cm-token", "PUT", status_path, stale_status, "Meridian-Fencing-Token: " + old_token);
  EXPECT_EQ(stale.code, 409) << stale.body.dump();
  const std::string message = stale.body.is_object() ? stale.body.value("message", "") : "";
  EXPECT_NE(message.find("is stale: the lease is held by holder \"" + standby + "\""),
            std::string::npos)
      << message;
  EXPECT_NE(Get("admin-token", test_env::WorkloadPath("shop", "web"))["status"].value(
                "observedGeneration", 0),
            99);

  // The new leader's writes go through: its controllers scale web, and its token is current.
  ASSERT_NO_FATAL_FAILURE(Apply("web.yaml", test_env::SpreadWorkload("web", 6)));
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30000), milliseconds(100),
                                  [&] { return MembersRun("web", 6); }))
      << "the new leader did not scale web: " << json(MemberReplicas("web")).dump();
  // The new leader's controllers write web's status too: a write between our GET and PUT is
  // an ordinary resourceVersion conflict (not the fence's "is stale"), so read again.
  Answer fresh;
  for (int attempt = 0; attempt < 20; ++attempt) {
    Answer current = Call("admin-token", "GET", test_env::WorkloadPath("shop", "web"));
    ASSERT_EQ(current.code, 200);
    fresh = Call("cm-token", "PUT", status_path, current.body,
                 "Meridian-Fencing-Token: " + new_token);
    const bool stale = fresh.body.is_object() &&
                       fresh.body.value("message", "").find("is stale") != std::string::npos;
    if (fresh.code != 409 || stale) break;
  }
  EXPECT_EQ(fresh.code, 200) << fresh.body.dump();

  // The old leader resumes: it notices its lost lease and exits; the new leader keeps it.
  ASSERT_EQ(kill(pid, SIGCONT), 0);
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(20), [&] {
    return test_env::ProcessExited(pid);
  })) << "the resumed old leader kept running";
  const int exit_status = cms_[lead].Kill(SIGKILL);  // reaps the zombie
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 1) << exit_status;
  EXPECT_EQ(Holder(), standby);
  EXPECT_TRUE(MembersRun("web", 6)) << json(MemberReplicas("web")).dump();
}

// A CustomResourceDefinition of example.com/v1 `kind` (namespaced, a status subresource,
// spec.replicas and spec.size), as a user registers it with the federation.
json Definition(const std::string& kind) {
  return test_env::ExampleCustomResourceDefinition(
      kind, {{"replicas", {{"type", "integer"}}}, {"size", {{"type", "integer"}}}},
      /*status_subresource=*/true);
}

// Custom kinds through the API (issue 18): the manager's registry follows the federation's
// CRDs over its client (crd/registrar.h, Mode::kFollow), so its binding and propagation
// controllers place custom objects as the embedded ones do. Widgets' CRD is registered
// before the manager starts (its first LIST), Gadgets' after (its watch); a
// ResourceInterpreter divides Gadgets. The manager is granted the custom objects by a
// ClusterRole aggregated into its built-in one (what an operator installing a CRD adds);
// until then it places everything else, and the Widget once granted.
TEST_F(ControllerManagerRestTest, CustomKindsArePlacedThroughTheApi) {
  ASSERT_NO_FATAL_FAILURE(StartFederation());
  ASSERT_NO_FATAL_FAILURE(Apply("federation.yaml", test_env::TwoMemberFederation(sim_url_)));
  const std::string crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
  Answer widgets = Call("admin-token", "POST", crds, Definition("Widget"));
  ASSERT_EQ(widgets.code, 201) << widgets.body.dump();
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(50), [&] {
    return Call("admin-token", "GET", "/apis/example.com/v1").body.dump().find("widgets") !=
           std::string::npos;
  })) << "widgets never served";

  ASSERT_NO_FATAL_FAILURE(StartManager(0));
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(50),
                                  [&] { return Holder() == "cm-0"; }))
      << "the manager never took the lease";

  // A member's object: its HTTP code and body, straight from membersim.
  auto member = [&](const std::string& name, const std::string& path) {
    test_env::CommandResult r = RunCommand("curl -sS --max-time 5 -o " +
                                           (dir_ / "member.json").string() +
                                           " -w '%{http_code}' '" + sim_url_ + "/clusters/" +
                                           name + path + "'");
    Answer a;
    a.code = r.exit_code == 0 ? std::atoi(r.output.c_str()) : 0;
    a.body = json::parse(test_env::ReadFile((dir_ / "member.json").string()), nullptr, false);
    return a;
  };
  // A Widget selected by a policy naming eu-west-1 only: copied there, and nowhere else.
  const std::string policies = "/apis/federation.meridian.io/v1alpha1/namespaces/shop/placementpolicies";
  auto policy = [](const std::string& name, const std::string& kind, const json& placement) {
    return json{{"apiVersion", "federation.meridian.io/v1alpha1"},
                {"kind", "PlacementPolicy"},
                {"metadata", {{"name", name}}},
                {"spec",
                 {{"resourceSelectors", {{{"apiVersion", "example.com/v1"}, {"kind", kind}}}},
                  {"placement", placement}}}};
  };
  Answer p = Call("admin-token", "POST", policies,
                  policy("widgets", "Widget",
                         {{"clusterSelector",
                          {{"matchLabels", {{"federation.meridian.io/cluster-name", "eu-west-1"}}}}}}));
  ASSERT_EQ(p.code, 201) << p.body.dump();
  const std::string widget_path = "/apis/example.com/v1/namespaces/shop/widgets/big";
  Answer w = Call("admin-token", "POST", "/apis/example.com/v1/namespaces/shop/widgets",
                  {{"apiVersion", "example.com/v1"},
                   {"kind", "Widget"},
                   {"metadata", {{"name", "big"}}},
                   {"spec", {{"size", 7}}}});
  ASSERT_EQ(w.code, 201) << w.body.dump();
  // A ConfigMap selected by another policy, on both members: the manager places it while
  // it may not read Widgets yet (a 403 holds back that kind only).
  Answer cm = Call("admin-token", "POST", "/api/v1/namespaces/shop/configmaps",
                   {{"apiVersion", "v1"},
                    {"kind", "ConfigMap"},
                    {"metadata", {{"name", "settings"}}},
                    {"data", {{"mode", "fast"}}}});
  ASSERT_EQ(cm.code, 201) << cm.body.dump();
  Answer cm_policy = Call("admin-token", "POST", policies,
                          {{"apiVersion", "federation.meridian.io/v1alpha1"},
                           {"kind", "PlacementPolicy"},
                           {"metadata", {{"name", "settings"}}},
                           {"spec",
                            {{"resourceSelectors",
                              {{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "settings"}}}},
                             {"placement", json::object()}}}});
  ASSERT_EQ(cm_policy.code, 201) << cm_policy.body.dump();
  const std::string cm_path = "/api/v1/namespaces/shop/configmaps/settings";
  std::string last;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30000), milliseconds(100), [&] {
    return member("us-east-1", cm_path).code == 200 && member("eu-west-1", cm_path).code == 200;
  })) << test_env::ReadFile(Log(0));
  EXPECT_EQ(member("eu-west-1", widget_path).code, 404);
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(100), [&] {
    return test_env::ReadFile(Log(0)).find(
               "not placing the objects of CustomResourceDefinition widgets.example.com for now") !=
           std::string::npos;
  })) << test_env::ReadFile(Log(0));

  // The operator grants the manager the custom kinds (aggregated into its built-in role):
  // the Widget goes to eu-west-1, and nowhere else.
  ASSERT_EQ(Call("admin-token", "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                 {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                  {"kind", "ClusterRole"},
                  {"metadata",
                   {{"name", "example-com-for-the-manager"},
                    {"labels", {{"federation.meridian.io/aggregate-to-controller-manager", "true"}}}}},
                  {"rules",
                   {{{"apiGroups", {"example.com"}},
                     {"resources", {"widgets", "gadgets"}},
                     {"verbs", {"get", "list", "watch", "update"}}},
                    {{"apiGroups", {"example.com"}},
                     {"resources", {"widgets/status", "gadgets/status"}},
                     {"verbs", {"update"}}}}}})
                .code,
            201);
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30000), milliseconds(100), [&] {
    Answer eu = member("eu-west-1", widget_path);
    Answer us = member("us-east-1", widget_path);
    last = "eu-west-1: " + std::to_string(eu.code) + " " + eu.body.dump() +
           "; us-east-1: " + std::to_string(us.code);
    return eu.code == 200 && eu.body["spec"].value("size", 0) == 7 && us.code == 404;
  })) << last << "\n" << test_env::ReadFile(Log(0));
  // The object says who placed it and what the member did (the manager's writes).
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(100), [&] {
    const json annotations =
        Call("admin-token", "GET", widget_path).body["metadata"].value("annotations", json::object());
    last = annotations.dump();
    return annotations.value("federation.meridian.io/placement", "") ==
               "placed by PlacementPolicy shop/widgets (by kind, priority 0)" &&
           annotations.value("federation.meridian.io/member-status", "") == "eu-west-1: applied";
  })) << last;

  // A CRD registered while the manager runs, with a ResourceInterpreter dividing its objects
  // by spec.replicas: 6 Gadget replicas, 3 on each member (weights 1:1), read from them.
  Answer gadgets = Call("admin-token", "POST", crds, Definition("Gadget"));
  ASSERT_EQ(gadgets.code, 201) << gadgets.body.dump();
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10000), milliseconds(50), [&] {
    return Call("admin-token", "GET", "/apis/example.com/v1").body.dump().find("gadgets") !=
           std::string::npos;
  })) << "gadgets never served";
  Answer interpreter =
      Call("admin-token", "POST", "/apis/federation.meridian.io/v1alpha1/resourceinterpreters",
           {{"apiVersion", "federation.meridian.io/v1alpha1"},
            {"kind", "ResourceInterpreter"},
            {"metadata", {{"name", "gadgets"}}},
            {"spec",
             {{"target", {{"apiVersion", "example.com/v1"}, {"kind", "Gadget"}}},
              {"replicasPath", ".spec.replicas"},
              {"readyReplicasPath", ".status.readyReplicas"}}}});
  ASSERT_EQ(interpreter.code, 201) << interpreter.body.dump();
  p = Call("admin-token", "POST", policies,
           policy("gadgets", "Gadget",
                  {{"distribution", {{"weights", {{"us-east", 1}, {"eu-west", 1}}}}}}));
  ASSERT_EQ(p.code, 201) << p.body.dump();
  const std::string gadget_path = "/apis/example.com/v1/namespaces/shop/gadgets/pump";
  Answer g = Call("admin-token", "POST", "/apis/example.com/v1/namespaces/shop/gadgets",
                  {{"apiVersion", "example.com/v1"},
                   {"kind", "Gadget"},
                   {"metadata", {{"name", "pump"}}},
                   {"spec", {{"replicas", 6}}}});
  ASSERT_EQ(g.code, 201) << g.body.dump();
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30000), milliseconds(100), [&] {
    last.clear();
    bool ok = true;
    for (const std::string name : {"us-east-1", "eu-west-1"}) {
      Answer got = member(name, gadget_path);
      last += name + ": " + std::to_string(got.code) + " " + got.body.dump() + "; ";
      ok = ok && got.code == 200 && got.body["spec"].value("replicas", -1) == 3;
    }
    return ok;
  })) << last << "\n" << test_env::ReadFile(Log(0));
  // The Widget stayed where it was: its CRD's registration is unchanged by the new one.
  EXPECT_EQ(member("us-east-1", widget_path).code, 404);
  EXPECT_EQ(member("eu-west-1", widget_path).code, 200);

  // The API refused the manager nothing but Widgets before the grant (its role plus the
  // aggregated ClusterRole).
  std::set<std::string> refused;
  std::istringstream audit(test_env::ReadFile(Audit()));
  for (std::string line; std::getline(audit, line);) {
    json event = json::parse(line, nullptr, false);
    if (!event.is_object() ||
        event.value("user", json::object()).value("username", "") != kManagerUser)
      continue;
    if (event.value("responseStatus", json::object()).value("code", 0) != 403) continue;
    const json ref = event.value("objectRef", json::object());
    refused.insert(event.value("verb", "") + " " + ref.value("apiGroup", "") + "/" +
                   ref.value("resource", ""));
  }
  refused.erase("list example.com/widgets");
  EXPECT_TRUE(refused.empty()) << "refused: " << json(refused).dump();
}

TEST_F(ControllerManagerRestTest, BadKubeconfigAndFlagsAreClearStartupErrors) {
  const std::string bin = test_env::BinDir() + "/federation-controller-manager";
  test_env::CommandResult both =
      RunCommand("timeout 30 " + bin + " --kubeconfig " + (dir_ / "kc").string() +
                 " --storage etcd:http://127.0.0.1:1");
  EXPECT_NE(both.exit_code, 0) << both.output;
  EXPECT_NE(both.output.find("--storage"), std::string::npos) << both.output;
  EXPECT_NE(both.output.find("--kubeconfig"), std::string::npos) << both.output;

  // Through the API the manager is always leader-elected (its writes carry its term's token).
  test_env::CommandResult unelected = RunCommand("timeout 30 " + bin + " --kubeconfig " +
                                                 (dir_ / "kc").string() + " --leader-elect=false");
  EXPECT_EQ(unelected.exit_code, 1) << unelected.output;
  EXPECT_NE(unelected.output.find("always leader-elected"), std::string::npos) << unelected.output;

  test_env::CommandResult neither = RunCommand("timeout 30 " + bin);
  EXPECT_EQ(neither.exit_code, 1) << neither.output;
  EXPECT_NE(neither.output.find("--kubeconfig FILE"), std::string::npos) << neither.output;

  test_env::CommandResult missing =
      RunCommand("timeout 30 " + bin + " --kubeconfig " + (dir_ / "absent").string());
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("--kubeconfig " + (dir_ / "absent").string()), std::string::npos)
      << missing.output;

  // A server that refuses the token: the startup check says so instead of never leading.
  ASSERT_NO_FATAL_FAILURE(StartFederation());
  test_env::WriteFile(dir_ / "wrong", Kubeconfig(api_url_, "no-such-token"));
  test_env::CommandResult refused =
      RunCommand("timeout 30 " + bin + " --kubeconfig " + (dir_ / "wrong").string());
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("Unauthorized"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find(api_url_), std::string::npos) << refused.output;

  // An authenticated user without the built-in binding: the startup check names the 403.
  test_env::WriteFile(dir_ / "unbound", Kubeconfig(api_url_, "nobody-token"));
  test_env::CommandResult unbound =
      RunCommand("timeout 30 " + bin + " --kubeconfig " + (dir_ / "unbound").string());
  EXPECT_EQ(unbound.exit_code, 1) << unbound.output;
  EXPECT_NE(unbound.output.find("User \"nobody\" cannot get resource \"leases\""),
            std::string::npos)
      << unbound.output;
}

}  // namespace
}  // namespace meridian::apiserver
