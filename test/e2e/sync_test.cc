// Sync end to end: membersim with the five clusters of examples/topology-3-continents.yaml
// (each demanding its own bearer token; pods Ready 1 s after binding) and the
// federation-apiserver with every controller, as real processes on free loopback ports. The
// members are joined with `fedctl join`, examples/three-continents/ is applied with
// `fedctl apply`, and what the members run is read straight from membersim, as kubectl would.
//
//   1. the example converges: every member runs exactly its placed replicas, all ready;
//   2. changing the image updates every member;
//   3. scaling 30 -> 60 re-divides (5:3:2 by continent, 3:2:2:1:2 by region);
//   4. a member edited by hand (a PATCH straight to membersim) is repaired;
//   5. a join whose token the member refuses says so and stores nothing; a joined member
//      whose stored token is wrong shows it as that member's error in the workload's status;
//   6. one member partitioned (hanging) does not delay the others by more than a second;
//   7. unjoin --cleanup removes what Meridian created in that member, and its credentials;
//   8. deleting the workload cleans every member.
// One federation for the whole file; the cases run in order and each leaves it converged.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/manifests.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

using test_env::FreeLoopbackPort;
using test_env::ReadFile;

struct Member {
  std::string name, region, zones, jurisdiction, continent;
};
const std::vector<Member> kMembers = {
    {"us-east-1", "us-east", "us-east-1a,us-east-1b,us-east-1c", "us", "north-america"},
    {"us-west-1", "us-west", "us-west-1a,us-west-1b", "us", "north-america"},
    {"eu-west-1", "eu-west", "eu-west-1a,eu-west-1b,eu-west-1c", "eu", "europe"},
    {"eu-central-1", "eu-central", "eu-central-1a,eu-central-1b", "eu", "europe"},
    {"ap-south-1", "ap-south", "ap-south-1a,ap-south-1b", "in", "asia"},
};

class SyncE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        std::filesystem::temp_directory_path() / ("meridian-sync-e2e-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    // The example topology, each cluster with its own token and pods Ready after 1 s.
    std::string topology = ReadFile(test_env::SourceDir() + "/examples/topology-3-continents.yaml");
    ASSERT_FALSE(topology.empty());
    const std::string config = test_env::TokenedMembersimConfig(topology, dir_, &tokens_);
    ASSERT_EQ(tokens_.size(), kMembers.size());
    std::ofstream(dir_ / "membersim.yaml") << config;

    std::string error;
    fed_ = std::make_unique<test_env::E2EFederation>();
    ASSERT_TRUE(fed_->Start({.bin_dir = test_env::BinDir(),
                             .dir = dir_,
                             .membersim_config = (dir_ / "membersim.yaml").string(),
                             .apiserver_flags = {"--controllers", "all"}},
                            &error))
        << error;
    sim_url_ = fed_->sim_url();
    api_url_ = fed_->api_url();

    ASSERT_EQ(
        Fedctl("apply -f " + test_env::SourceDir() + "/examples/three-continents/topology.yaml")
            .exit_code,
        0);
    for (const Member& m : kMembers) {
      auto r = Fedctl("join " + m.name + " --member-url " + sim_url_ + "/clusters/" + m.name +
                      " --token-file " + (dir_ / (m.name + ".token")).string() + " --region " +
                      m.region + " --zones " + m.zones + " --jurisdiction " + m.jurisdiction +
                      " --label tier=prod --label continent=" + m.continent);
      ASSERT_EQ(r.exit_code, 0) << r.output;
      ASSERT_NE(r.output.find("membercluster.federation.meridian.io/" + m.name + " joined"),
                std::string::npos)
          << r.output;
    }
    workload_ = ReadFile(test_env::SourceDir() + "/examples/three-continents/workload.yaml");
    ASSERT_FALSE(workload_.empty());
    ApplyWorkload(workload_);
  }

  static void TearDownTestSuite() {
    fed_.reset();
    std::filesystem::remove_all(dir_);
  }

  static test_env::CommandResult Fedctl(const std::string& args) { return fed_->Fedctl(args); }
  static void ApplyWorkload(const std::string& yaml) {
    std::ofstream(dir_ / "workload.yaml") << yaml;
    auto r = Fedctl("apply -f " + (dir_ / "workload.yaml").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static std::string WorkloadWith(const std::string& from, const std::string& to) {
    std::string out = workload_;
    size_t at = out.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) out.replace(at, from.size(), to);
    return out;
  }

  // A member's object straight from membersim, as kubectl would see it; null when absent
  // (404), an empty object when the member did not answer.
  static json MemberGet(const std::string& member, const std::string& path,
                        const std::string& token = "") {
    auto r = test_env::RunCommand(
        "curl -sS --max-time 2 -w '\\n%{http_code}' -H 'Authorization: Bearer " +
        (token.empty() ? tokens_[member] : token) + "' " + sim_url_ + "/clusters/" + member + path);
    size_t nl = r.output.rfind('\n');
    std::string code = nl == std::string::npos ? "" : r.output.substr(nl + 1);
    if (code == "404") return json();
    if (code != "200") return json::object();
    return json::parse(r.output.substr(0, nl), nullptr, false);
  }
  static json Deployment(const std::string& member) {
    return MemberGet(member, "/apis/apps/v1/namespaces/shop/deployments/web");
  }
  static json FederationGet(const std::string& path) { return fed_->Api(path); }
  static json Workload() { return FederationGet(test_env::WorkloadPath("shop", "web")); }
  // Replicas per member from status.placement.
  static std::map<std::string, int64_t> Placement() { return test_env::Placement(Workload()); }
  static std::string Image(const json& deployment) {
    try {
      return deployment.at("spec").at("template").at("spec").at("containers").at(0).at("image");
    } catch (const std::exception&) {
      return "";
    }
  }
  static bool WaitFor(milliseconds timeout, const std::function<bool()>& done,
                      milliseconds every = milliseconds(200)) {
    return test_env::PollUntil(timeout, every, done) || done();
  }
  // Every member runs exactly `want` replicas (by member), all ready and updated, and no other
  // member runs the workload.
  static std::string Mismatch(const std::map<std::string, int64_t>& want) {
    for (const auto& [member, token] : tokens_) {
      if (unjoined_.count(member)) continue;
      json d = Deployment(member);
      auto it = want.find(member);
      if (it == want.end()) {
        if (!d.is_null()) return member + " runs the workload but was not placed";
        continue;
      }
      if (!d.is_object() || d.empty()) return member + ": no deployment";
      int64_t spec = d["spec"].value("replicas", int64_t{-1});
      int64_t ready = d.value("status", json::object()).value("readyReplicas", int64_t{0});
      int64_t updated = d.value("status", json::object()).value("updatedReplicas", int64_t{0});
      if (spec != it->second || ready != it->second || updated != it->second) {
        return member + ": spec " + std::to_string(spec) + ", ready " + std::to_string(ready) +
               ", updated " + std::to_string(updated) + ", want " + std::to_string(it->second);
      }
    }
    return "";
  }
  static std::string ImageMismatch(const std::string& image,
                                   const std::vector<std::string>& members) {
    for (const std::string& m : members) {
      std::string got = Image(Deployment(m));
      if (got != image) return m + " has \"" + got + "\"";
    }
    return "";
  }
  static std::vector<std::string> AllMembers() {
    std::vector<std::string> out;
    for (const Member& m : kMembers) {
      if (!unjoined_.count(m.name)) out.push_back(m.name);
    }
    return out;
  }
  static std::string Logs() {
    return "\n--- apiserver log (tail) ---\n" +
           test_env::RunCommand("tail -30 " + (dir_ / "apiserver.log").string()).output;
  }

  static inline std::filesystem::path dir_;
  static inline std::unique_ptr<test_env::E2EFederation> fed_;
  static inline std::string sim_url_, api_url_, workload_;
  static inline std::map<std::string, std::string> tokens_;
  static inline std::set<std::string> unjoined_;
  static inline milliseconds image_rollout_{0};  // the healthy baseline of case 2
};

const std::map<std::string, int64_t> k30 = {
    {"us-east-1", 9}, {"us-west-1", 6}, {"eu-west-1", 6}, {"eu-central-1", 3}, {"ap-south-1", 6}};
const std::map<std::string, int64_t> k60 = {{"us-east-1", 18},
                                            {"us-west-1", 12},
                                            {"eu-west-1", 12},
                                            {"eu-central-1", 6},
                                            {"ap-south-1", 12}};

TEST_F(SyncE2E, TheThreeContinentsExampleConverges) {
  ASSERT_TRUE(WaitFor(milliseconds(30000), [] { return Placement() == k30; })) << Logs();
  std::string why;
  EXPECT_TRUE(WaitFor(milliseconds(30000), [&] { return (why = Mismatch(k30)).empty(); }))
      << why << Logs();
  EXPECT_TRUE(WaitFor(milliseconds(10000),
                      [] { return Workload()["status"].value("readyReplicas", 0) == 30; }));
  // What a user sees: per-region ready/desired at a glance, and per member in describe.
  auto get = Fedctl("get fw -n shop");
  EXPECT_EQ(get.exit_code, 0) << get.output;
  EXPECT_NE(get.output.find("us-east 9/9"), std::string::npos) << get.output;
  EXPECT_NE(get.output.find("eu-central 3/3"), std::string::npos) << get.output;
  auto describe = Fedctl("describe fw web -n shop");
  EXPECT_NE(describe.output.find("ap-south-1     ap-south     6/6     true"), std::string::npos)
      << describe.output;
  EXPECT_NE(describe.output.find("Events:"), std::string::npos) << describe.output;
}

TEST_F(SyncE2E, ChangingTheImageUpdatesEveryMember) {
  const std::string image = "registry.example.com/shop/web:2.0";
  auto start = steady_clock::now();
  ApplyWorkload(WorkloadWith("shop/web:1.0", "shop/web:2.0"));
  std::string why;
  ASSERT_TRUE(WaitFor(
      milliseconds(15000), [&] { return (why = ImageMismatch(image, AllMembers())).empty(); },
      milliseconds(50)))
      << why << Logs();
  image_rollout_ = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  EXPECT_TRUE(WaitFor(milliseconds(20000), [&] { return (why = Mismatch(k30)).empty(); })) << why;
  workload_ = WorkloadWith("shop/web:1.0", "shop/web:2.0");
}

TEST_F(SyncE2E, Scaling30To60ReDivides) {
  workload_ = WorkloadWith("replicas: 30", "replicas: 60");
  ApplyWorkload(workload_);
  ASSERT_TRUE(WaitFor(milliseconds(15000), [] { return Placement() == k60; })) << Logs();
  std::string why;
  EXPECT_TRUE(WaitFor(milliseconds(30000), [&] { return (why = Mismatch(k60)).empty(); }))
      << why << Logs();
  EXPECT_TRUE(WaitFor(milliseconds(10000),
                      [] { return Workload()["status"].value("readyReplicas", 0) == 60; }));
}

TEST_F(SyncE2E, AMemberEditedByHandIsRepaired) {
  // As `kubectl --server <member> patch deploy web -n shop` would.
  auto r = test_env::RunCommand(
      "curl -fsS --max-time 5 -X PATCH -H 'Content-Type: application/merge-patch+json' "
      "-H 'Authorization: Bearer " +
      tokens_["eu-west-1"] + "' " + sim_url_ +
      "/clusters/eu-west-1/apis/apps/v1/namespaces/shop/deployments/web -d "
      "'{\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\","
      "\"image\":\"evil/miner:latest\"}]}}}}'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // What the member stored (the repair may follow within milliseconds).
  json edited = json::parse(r.output, nullptr, false);
  ASSERT_TRUE(edited.is_object()) << r.output;
  ASSERT_EQ(edited["spec"].value("replicas", 0), 1) << r.output;
  ASSERT_EQ(Image(edited), "evil/miner:latest") << r.output;
  std::string why;
  EXPECT_TRUE(WaitFor(milliseconds(10000),
                      [&] {
                        json d = Deployment("eu-west-1");
                        return d.is_object() && d.contains("spec") &&
                               d["spec"].value("replicas", 0) == 12 &&
                               Image(d) == "registry.example.com/shop/web:2.0";
                      }))
      << Deployment("eu-west-1").dump() << Logs();
  EXPECT_TRUE(WaitFor(milliseconds(20000), [&] { return (why = Mismatch(k60)).empty(); })) << why;
}

TEST_F(SyncE2E, RefusedCredentialsAreReportedPerMember) {
  // A join with a token the member refuses stores nothing.
  std::ofstream(dir_ / "wrong.token") << "not-the-token\n";
  auto refused = Fedctl("join eu-west-2 --member-url " + sim_url_ +
                        "/clusters/eu-west-1 --token-file " + (dir_ / "wrong.token").string() +
                        " --region eu-west --zones eu-west-1a --jurisdiction eu");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("refused the credentials (401 Unauthorized)"), std::string::npos)
      << refused.output;
  EXPECT_NE(Fedctl("get mc eu-west-2").exit_code, 0);
  EXPECT_EQ(Fedctl("get secrets -n meridian-system").output.find("eu-west-2"), std::string::npos);

  // An unreachable member: named with its URL, nothing stored.
  auto unreachable =
      Fedctl("join nowhere --member-url http://127.0.0.1:" + std::to_string(FreeLoopbackPort()) +
             " --token-file " + (dir_ / "wrong.token").string() +
             " --region eu-west --zones eu-west-1a --jurisdiction eu");
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.output.find("cannot reach member \"nowhere\" at http://127.0.0.1:"),
            std::string::npos)
      << unreachable.output;
  EXPECT_NE(Fedctl("get mc nowhere").exit_code, 0);

  // A joined member whose stored credentials go wrong: its error shows in the workload's
  // status for that member, and the others stay synced. Then the right ones are restored.
  std::ofstream(dir_ / "bad-secret.yaml")
      << "apiVersion: v1\nkind: Secret\nmetadata: {name: ap-south-1-wrong, namespace: "
         "meridian-system}\nstringData: {token: not-the-token}\n";
  ASSERT_EQ(Fedctl("apply -f " + (dir_ / "bad-secret.yaml").string()).exit_code, 0);
  auto patch_ref = [](const std::string& secret) {
    return test_env::RunCommand(
        "curl -fsS --max-time 5 -X PATCH -H 'Content-Type: application/merge-patch+json' " +
        api_url_ +
        "/apis/federation.meridian.io/v1alpha1/memberclusters/ap-south-1 -d "
        "'{\"spec\":{\"credentialsRef\":{\"name\":\"" +
        secret + "\"}}}'");
  };
  const std::string good_secret = FederationGet(
      "/apis/federation.meridian.io/v1alpha1/memberclusters/ap-south-1")["spec"]["credentialsRef"]
                                                                        ["name"];
  ASSERT_EQ(good_secret.rfind("ap-south-1-credentials-", 0), 0u) << good_secret;
  ASSERT_EQ(patch_ref("ap-south-1-wrong").exit_code, 0);
  // A change to the workload makes every member's worker write.
  workload_ = WorkloadWith("shop/web:2.0", "shop/web:2.1");
  ApplyWorkload(workload_);
  std::string error;
  EXPECT_TRUE(WaitFor(milliseconds(15000),
                      [&] {
                        for (const json& c :
                             Workload()["status"].value("clusters", json::array())) {
                          if (c.value("cluster", "") == "ap-south-1")
                            error = c.value("lastError", "");
                        }
                        return error.find("401") != std::string::npos ||
                               error.find("nauthorized") != std::string::npos;
                      }))
      << "ap-south-1 lastError: \"" << error << "\"" << Logs();
  auto describe = Fedctl("describe fw web -n shop");
  EXPECT_TRUE(describe.output.find("401") != std::string::npos ||
              describe.output.find("nauthorized") != std::string::npos)
      << describe.output;
  std::vector<std::string> others = {"us-east-1", "us-west-1", "eu-west-1", "eu-central-1"};
  std::string why;
  EXPECT_TRUE(WaitFor(milliseconds(10000), [&] {
    return (why = ImageMismatch("registry.example.com/shop/web:2.1", others)).empty();
  })) << why;
  EXPECT_EQ(Image(Deployment("ap-south-1")), "registry.example.com/shop/web:2.0");

  ASSERT_EQ(patch_ref(good_secret).exit_code, 0);
  EXPECT_TRUE(
      WaitFor(milliseconds(15000),
              [&] {
                return (why = Mismatch(k60)).empty() &&
                       ImageMismatch("registry.example.com/shop/web:2.1", AllMembers()).empty();
              }))
      << why << Logs();
}

TEST_F(SyncE2E, AHangingMemberDoesNotDelayTheOthers) {
  // A second healthy baseline, just before, under the same load: the larger one counts.
  {
    auto start = steady_clock::now();
    ApplyWorkload(WorkloadWith("shop/web:2.1", "shop/web:2.2"));
    std::string why;
    ASSERT_TRUE(WaitFor(
        milliseconds(15000),
        [&] {
          return (why = ImageMismatch("registry.example.com/shop/web:2.2", AllMembers())).empty();
        },
        milliseconds(50)))
        << why;
    image_rollout_ = std::max(
        image_rollout_, std::chrono::duration_cast<milliseconds>(steady_clock::now() - start));
  }
  auto ctl = fed_->MembersimCtl("partition eu-central-1 --mode hang");
  ASSERT_EQ(ctl.exit_code, 0) << ctl.output;
  const std::string image = "registry.example.com/shop/web:3.0";
  auto start = steady_clock::now();
  ApplyWorkload(WorkloadWith("shop/web:2.1", "shop/web:3.0"));
  std::vector<std::string> others = {"us-east-1", "us-west-1", "eu-west-1", "ap-south-1"};
  std::string why;
  bool done = WaitFor(
      milliseconds(15000), [&] { return (why = ImageMismatch(image, others)).empty(); },
      milliseconds(50));
  auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  auto heal = fed_->MembersimCtl("heal eu-central-1");
  EXPECT_EQ(heal.exit_code, 0) << heal.output;
  ASSERT_TRUE(done) << why << Logs();
  EXPECT_LE(took.count(), image_rollout_.count() + 1000)
      << "with eu-central-1 hanging the other members got the new image after " << took.count()
      << " ms; healthy, every member had it after " << image_rollout_.count() << " ms";
  std::cout << "[ measured ] image rollout to 5 members (slower of 2): " << image_rollout_.count()
            << " ms; to the 4 others while eu-central-1 hangs: " << took.count() << " ms\n";
  workload_ = WorkloadWith("shop/web:2.1", "shop/web:3.0");
  // Healed, the member catches up.
  EXPECT_TRUE(WaitFor(milliseconds(20000), [&] {
    return ImageMismatch(image, {"eu-central-1"}).empty();
  })) << Logs();
}

TEST_F(SyncE2E, UnjoinCleanupRemovesWhatMeridianCreatedInTheMember) {
  ASSERT_TRUE(Deployment("ap-south-1").is_object() && !Deployment("ap-south-1").empty());
  // Something Meridian left there that no controller tracks any more (a kind propagation
  // does not watch): only --cleanup removes it.
  auto leftover = test_env::RunCommand(
      "curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' "
      "-H 'Authorization: Bearer " +
      tokens_["ap-south-1"] + "' " + sim_url_ +
      "/clusters/ap-south-1/api/v1/namespaces/shop/secrets -d '{\"apiVersion\":\"v1\","
      "\"kind\":\"Secret\",\"metadata\":{\"name\":\"legacy\",\"labels\":"
      "{\"federation.meridian.io/managed-by\":\"meridian\"}}}'");
  ASSERT_EQ(leftover.exit_code, 0) << leftover.output;

  auto r = Fedctl("unjoin ap-south-1 --cleanup");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // The leftover goes by name, or with the namespace Meridian created for it (issue 17:
  // cleanup removes the namespaces Meridian created, and what is in them) — deleted by the
  // cleanup, or already by propagation, which removes the namespace it created once the
  // member (dropped by placement when its MemberCluster went) holds nothing of Meridian's.
  EXPECT_NE(r.output.find("cleaned ap-south-1: "), std::string::npos) << r.output;
  const bool cleaned_it =
      r.output.find("deleted secrets shop/legacy from ap-south-1") != std::string::npos ||
      r.output.find("deleted namespaces shop from ap-south-1") != std::string::npos;
  const json ns = MemberGet("ap-south-1", "/api/v1/namespaces/shop");
  EXPECT_TRUE(cleaned_it || ns.is_null() ||
              ns.value("metadata", json::object()).contains("deletionTimestamp"))
      << r.output << "\nnamespace shop in ap-south-1: " << ns.dump();
  EXPECT_NE(r.output.find("secret \"meridian-system/ap-south-1-credentials-"), std::string::npos)
      << r.output;
  unjoined_.insert("ap-south-1");
  // The Deployment is gone too: deleted by the cleanup, or by propagation itself when
  // placement dropped the member first.
  EXPECT_TRUE(Deployment("ap-south-1").is_null()) << Deployment("ap-south-1").dump();
  EXPECT_TRUE(MemberGet("ap-south-1", "/api/v1/namespaces/shop/secrets/legacy").is_null());
  EXPECT_NE(Fedctl("get mc ap-south-1").exit_code, 0);
  EXPECT_EQ(Fedctl("get secrets -n meridian-system").output.find("ap-south-1-credentials"),
            std::string::npos);
  // The rest of the federation takes the replicas over; the removed member stays clean.
  EXPECT_TRUE(WaitFor(milliseconds(15000), [] {
    auto p = Placement();
    return !p.count("ap-south-1") && !p.empty();
  }));
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_TRUE(Deployment("ap-south-1").is_null());
}

TEST_F(SyncE2E, DeletingTheWorkloadCleansEveryMember) {
  auto r = Fedctl("delete fw web -n shop");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string left;
  EXPECT_TRUE(WaitFor(milliseconds(15000),
                      [&] {
                        left.clear();
                        for (const Member& m : kMembers) {
                          if (!Deployment(m.name).is_null()) left += m.name + " ";
                        }
                        return left.empty();
                      }))
      << "still running the workload: " << left << Logs();
  EXPECT_TRUE(WaitFor(milliseconds(10000), [] { return Workload().is_null(); }));
}

}  // namespace
}  // namespace meridian
