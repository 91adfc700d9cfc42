// The differential test (issue 17): one federation-apiserver with two members side by side, a
// membersim cluster ("sim-1") and a real kube-apiserver 1.20 ("real-1",
// test/common/kube_apiserver.h), both joined with the same labels and given the same share of
// every workload. One scenario runs through Meridian against both:
//
//   propagate   a Deployment whose template the real server normalises (cpu 0.5, 1024Mi,
//               "1.0", args: []), a Service and a ConfigMap into a namespace Meridian creates;
//   quiet       a window of many resyncs: no writes, generations stay put (no hot loop);
//   hand edit   scale and a foreign label and annotation written by someone else: the scale is
//               repaired, the foreign metadata stays;
//   scale       the template's replicas change;
//   override    an override (matching both members) replaces the image;
//   delete      one FederatedWorkload is deleted;
//   unjoin      `fedctl unjoin --cleanup` of each.
//
// After each step both members must hold the same thing: the same objects, the same stored
// objects after normalisation (uid, resourceVersion, timestamps, managedFields and status
// dropped; what differs because of the fixture rather than the server, below, evened out),
// and Meridian must have written the same to each (create/update/patch/delete counts: the real
// server's audit log for Meridian's user, membersim's write counter minus the test's own
// writes). A stored difference fails the test unless membersim/known_differences.json allows
// it, and that file may only name differences membersim/README.md lists, and only ones this
// run still shows: so the README's list stays honest both ways.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "test/common/e2e_federation.h"
#include "test/common/kube_apiserver.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr int kResyncMs = 200;
constexpr char kNs[] = "diff";

// Two replicas each (equal weights), at most three each: unjoining one member must not move
// replicas to the other (that would be a write to one member only).
constexpr char kWorkloads[] = R"(apiVersion: v1
kind: Namespace
metadata: {name: diff}
---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: web, namespace: diff}
spec:
  template:
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, labels: {app: web}, annotations: {team.example.com/owner: shop}}
    spec:
      replicas: 4
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
            - name: web
              image: registry.example.com/shop/web:1.0
              args: []
              ports: [{containerPort: 8080}]
              resources:
                requests: {cpu: 0.5, memory: 1024Mi}
                limits: {cpu: "1.0"}
  placement:
    distribution:
      weights: {sim-1: 1, real-1: 1}
      clusters:
        sim-1: {max: 3}
        real-1: {max: 3}
OVERRIDES---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: web-svc, namespace: diff}
spec:
  template:
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    spec:
      selector: {app: web}
      ports: [{port: 80, targetPort: 8080}]
  placement: {}
---
apiVersion: federation.meridian.io/v1alpha1
kind: FederatedWorkload
metadata: {name: web-config, namespace: diff}
spec:
  template:
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: web-config}
    data: {greeting: hello, replicas: "2"}
  placement: {}
)";

constexpr char kImageOverride[] = R"(  overrides:
    - clusterSelector: {matchLabels: {diff: "yes"}}
      patches:
        - {op: replace, path: /spec/template/spec/containers/0/image, value: "registry.example.com/shop/web:2.0"}
)";

// The kinds Meridian writes here, and where each member lists them.
struct Collection {
  std::string kind, path;
};
const std::vector<Collection> kCollections = {
    {"Deployment", "/apis/apps/v1/namespaces/diff/deployments"},
    {"Service", "/api/v1/namespaces/diff/services"},
    {"ConfigMap", "/api/v1/namespaces/diff/configmaps"},
};
const std::vector<std::string> kWorkloadNames = {"web", "web-svc", "web-config"};

// Meridian's writes to one member, by verb (create, update, patch, delete).
using Writes = std::map<std::string, int64_t>;

// One member as the test sees it: its API (as a user other than Meridian's), and Meridian's
// writes to it so far.
struct Member {
  std::string name, url, token, ca_file;
  bool counts_test_writes = false;     // all_writes includes the test's own
  std::function<Writes()> all_writes;  // every client's writes, or only Meridian's
  Writes test_writes;                  // the test's own writes

  test_env::KubeApiServer::Response Request(const std::string& method, const std::string& path,
                                            const json& body = nullptr) {
    std::string cmd = "curl -sS --max-time 10 -w '\\n%{http_code}' -H 'Authorization: Bearer " +
                      token + "' -X " + method;
    if (!ca_file.empty()) cmd += " --cacert '" + ca_file + "'";
    if (!body.is_null()) {
      cmd += std::string(" -H 'Content-Type: ") +
             (method == "PATCH" ? "application/merge-patch+json" : "application/json") +
             "' --data-binary '" + body.dump() + "'";  // the test's bodies hold no quote
      static const std::map<std::string, std::string> verbs = {
          {"POST", "create"}, {"PUT", "update"}, {"PATCH", "patch"}};
      if (auto it = verbs.find(method); it != verbs.end()) ++test_writes[it->second];
    }
    if (method == "DELETE") ++test_writes["delete"];
    test_env::CommandResult r = test_env::RunCommand(cmd + " '" + url + path + "'");
    test_env::KubeApiServer::Response out;
    const size_t nl = r.output.rfind('\n');
    if (r.exit_code != 0 || nl == std::string::npos) return out;
    out.code = std::atoi(r.output.c_str() + nl + 1);
    out.body = json::parse(r.output.substr(0, nl), nullptr, false);
    return out;
  }
  // The object of a 200, null for a 404, an empty object otherwise.
  json Get(const std::string& path) {
    auto r = Request("GET", path);
    if (r.code == 404) return nullptr;
    return r.code == 200 && r.body.is_object() ? r.body : json::object();
  }
  Writes MeridianWrites() const {
    Writes w = all_writes();
    if (!counts_test_writes) return w;
    for (const auto& [verb, n] : test_writes) {
      if (w.count(verb)) w[verb] -= n;
    }
    return w;
  }
};

// Flattens `v` into path -> JSON text of each leaf (an empty object or list is a leaf).
void Flatten(const json& v, const std::string& path, std::map<std::string, std::string>* out) {
  if (v.is_object() && !v.empty()) {
    for (const auto& [k, child] : v.items()) Flatten(child, path.empty() ? k : path + "." + k, out);
  } else if (v.is_array() && !v.empty()) {
    for (size_t i = 0; i < v.size(); ++i) {
      Flatten(v[i], path + "[" + std::to_string(i) + "]", out);
    }
  } else {
    (*out)[path] = v.dump();
  }
}

// What is compared of a stored object: no uid, resourceVersion, timestamps, managedFields,
// selfLink or status (membersim runs controllers that write status, the real member none).
// Two more things differ because of the fixture, not the server:
//   - the real member runs no kube-controller-manager, so nobody writes the Deployment
//     controller's revision annotation there (membersim's Deployment controller does);
//   - a Service's clusterIP comes from each server's own range: only its presence counts.
json Normalise(const std::string& kind, json obj) {
  if (!obj.is_object()) return obj;
  obj.erase("status");
  json& meta = obj["metadata"];
  for (const char* f : {"uid", "resourceVersion", "creationTimestamp", "managedFields", "selfLink",
                        "deletionTimestamp", "deletionGracePeriodSeconds"}) {
    meta.erase(f);
  }
  if (meta.contains("annotations")) {
    meta["annotations"].erase("deployment.kubernetes.io/revision");
    if (meta["annotations"].empty()) meta.erase("annotations");
  }
  if (kind == "Service" && obj.contains("spec")) {
    json& spec = obj["spec"];
    if (spec.contains("clusterIP")) spec["clusterIP"] = "<allocated>";
    if (spec.contains("clusterIPs")) spec["clusterIPs"] = json::array({"<allocated>"});
  }
  return obj;
}

// A stored difference: "Kind:path" and both sides' values (absent: "<absent>").
struct Difference {
  std::string where, object, sim, real;
  std::string Describe() const {
    return object + " " + where + ": membersim " + sim + ", kube-apiserver " + real;
  }
};

std::vector<Difference> Compare(const std::string& kind, const std::string& object, const json& sim,
                                const json& real) {
  std::map<std::string, std::string> a, b;
  Flatten(Normalise(kind, sim), "", &a);
  Flatten(Normalise(kind, real), "", &b);
  std::vector<Difference> out;
  for (const auto& [path, value] : a) {
    auto it = b.find(path);
    if (it == b.end() || it->second != value) {
      out.push_back({kind + ":" + path, object, value, it == b.end() ? "<absent>" : it->second});
    }
  }
  for (const auto& [path, value] : b) {
    if (!a.count(path)) out.push_back({kind + ":" + path, object, "<absent>", value});
  }
  return out;
}

// membersim/known_differences.json, checked against the README's section.
struct AllowList {
  struct Entry {
    std::string readme, pattern;
    std::regex re;
  };
  std::vector<Entry> entries;
  std::set<std::string> used;  // patterns that allowed something

  // Loads the list; "" or what is wrong (an entry whose bullet the README lacks).
  std::string Load() {
    const std::string src = test_env::SourceDir();
    json doc =
        json::parse(test_env::ReadFile(src + "/membersim/known_differences.json"), nullptr, false);
    if (!doc.is_object()) return "membersim/known_differences.json is not JSON";
    const std::string readme = test_env::ReadFile(src + "/membersim/README.md");
    const size_t begin = readme.find("## Known differences from kube-apiserver");
    if (begin == std::string::npos) return "membersim/README.md has no Known differences section";
    const std::string section = readme.substr(begin, readme.find("\n## ", begin + 1) - begin);
    for (const json& d : doc.value("differences", json::array())) {
      const std::string name = d.value("readme", "");
      if (section.find("- **" + name) == std::string::npos) {
        return "membersim/known_differences.json allows \"" + name +
               "\", which membersim/README.md's Known differences section does not list";
      }
      for (const json& p : d.value("paths", json::array())) {
        const std::string pattern = p.get<std::string>();
        std::string re;
        for (char c : pattern) {
          if (c == '*') {
            re += "[^.]*";
          } else {
            if (std::string("\\^$.|?+()[]{}").find(c) != std::string::npos) re += '\\';
            re += c;
          }
        }
        entries.push_back({name, pattern, std::regex(re)});
      }
    }
    return "";
  }
  // Whether `d` is allowed (and remembers which entry allowed it).
  bool Allows(const Difference& d) {
    for (const Entry& e : entries) {
      if (std::regex_match(d.where, e.re)) {
        used.insert(e.pattern);
        return true;
      }
    }
    return false;
  }
};

class RealMemberDiffE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-real-member-diff-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string error;
    kube_ = std::make_unique<test_env::KubeApiServer>();
    ASSERT_TRUE(kube_->Start({}, &error)) << error;
    // The real member's node: the allocatable membersim's node has, untainted (see
    // real_member_test.cc: no node lifecycle controller lifts the not-ready taint here).
    auto node = kube_->Request(
        "POST", "/api/v1/nodes",
        {{"apiVersion", "v1"},
         {"kind", "Node"},
         {"metadata",
          {{"name", "node-a"}, {"labels", {{"topology.kubernetes.io/zone", "real-1a"}}}}},
         {"status",
          {{"allocatable", {{"cpu", "8"}, {"memory", "16Gi"}, {"pods", "110"}}},
           {"capacity", {{"cpu", "8"}, {"memory", "16Gi"}, {"pods", "110"}}},
           {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}});
    ASSERT_EQ(node.code, 201) << node.body.dump();
    ASSERT_EQ(
        kube_->Request("PATCH", "/api/v1/nodes/node-a", {{"spec", {{"taints", nullptr}}}}).code,
        200);

    const std::string sim_token = "sim-token-" + std::to_string(getpid());
    test_env::WriteFile(dir_ / "sim-1.token", sim_token + "\n");
    test_env::WriteFile(dir_ / "membersim.yaml",
                        "defaults:\n"
                        "  podReadyDelay: 1s\n"
                        // Long enough for NamespaceTerminationAnswersAlike's requests; a
                        // Terminating namespace counts as gone in the scenario's comparisons.
                        "  namespaceDeletionDelay: 5s\n"
                        "  node: {cpu: \"8\", memory: 16Gi, pods: 110}\n"
                        "clusters:\n"
                        "  - name: sim-1\n"
                        "    region: r-1\n"
                        "    jurisdiction: xx\n"
                        "    auth: {token: " +
                            sim_token +
                            "}\n"
                            "    zones:\n"
                            "      - {name: sim-1a, nodes: 1}\n");
    fed_ = std::make_unique<test_env::E2EFederation>();
    ASSERT_TRUE(fed_->Start(
        {.bin_dir = test_env::BinDir(),
         .dir = dir_,
         .membersim_config = (dir_ / "membersim.yaml").string(),
         .apiserver_flags = {"--controllers", "health,member-schemas,placement,propagation",
                             "--propagation-resync-ms", std::to_string(kResyncMs),
                             "--health-probe-interval-ms", "500"}},
        &error))
        << error;

    sim_ = {.name = "sim-1",
            .url = fed_->sim_url() + "/clusters/sim-1",
            .token = sim_token,
            .counts_test_writes = true,
            .all_writes = [] {
              // membersim counts every client's writes (the test's are subtracted).
              Writes w;
              json status = test_env::GetJson(fed_->sim_url() + "/admin/status");
              for (const json& c : status.value("clusters", json::array())) {
                if (c.value("name", "") != "sim-1") continue;
                for (const char* verb : {"create", "update", "patch", "delete"}) {
                  w[verb] = c["apiWrites"].value(verb, int64_t{0});
                }
              }
              return w;
            }};
    real_ = {.name = "real-1",
             .url = kube_->url(),
             .token = kube_->test_token(),
             .ca_file = kube_->ca_file(),
             .all_writes = [] {
               // Only Meridian's user ("admin" of the kubeconfig) from the audit log.
               Writes w = {{"create", 0}, {"update", 0}, {"patch", 0}, {"delete", 0}};
               for (const json& e : kube_->AuditEvents()) {
                 if (e.value("stage", "") != "ResponseComplete") continue;
                 if (e.value("user", json::object()).value("username", "") != "admin") continue;
                 const std::string verb = e.value("verb", "");
                 if (w.count(verb)) ++w[verb];
               }
               return w;
             }};

    auto joined_sim = fed_->Fedctl(
        "join sim-1 --member-url " + sim_.url + " --token-file " + (dir_ / "sim-1.token").string() +
        " --region r-1 --zones sim-1a --jurisdiction xx --label diff=yes");
    ASSERT_EQ(joined_sim.exit_code, 0) << joined_sim.output;
    auto joined_real = fed_->Fedctl("join real-1 --kubeconfig " + kube_->kubeconfig() +
                                    " --region r-1 --zones real-1a --jurisdiction xx "
                                    "--label diff=yes");
    ASSERT_EQ(joined_real.exit_code, 0) << joined_real.output;
    ASSERT_TRUE(allow_.Load().empty()) << allow_.Load();
  }

  static void TearDownTestSuite() {
    fed_.reset();
    kube_.reset();
    std::filesystem::remove_all(dir_);
  }

  static bool WaitFor(milliseconds limit, const std::function<bool()>& done) {
    return test_env::PollUntil(limit, milliseconds(50), done) || done();
  }
  static std::string Logs() {
    return "\n--- federation-apiserver log (tail) ---\n" +
           test_env::RunCommand("tail -30 " + (dir_ / "apiserver.log").string()).output +
           "--- membersim log (tail) ---\n" +
           test_env::RunCommand("tail -10 " + (dir_ / "membersim.log").string()).output +
           "--- kube-apiserver log (tail) ---\n" + kube_->LogTail(10) +
           "--- Meridian's last writes to kube-apiserver ---\n" + RealWriteLines(12);
  }
  // "verb requestURI -> code" of Meridian's last `n` writes to the real member.
  static std::string RealWriteLines(size_t n) {
    std::vector<std::string> lines;
    for (const json& e : kube_->AuditEvents()) {
      const std::string verb = e.value("verb", "");
      if (e.value("user", json::object()).value("username", "") != "admin") continue;
      if (verb != "create" && verb != "update" && verb != "patch" && verb != "delete") continue;
      lines.push_back("  " + verb + " " + e.value("requestURI", "") + " -> " +
                      std::to_string(e["responseStatus"].value("code", 0)) + "\n");
    }
    std::string out;
    for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) out += lines[i];
    return out;
  }

  // Applies kWorkloads with `replicas` for web and `overrides` for it.
  static void Apply(int replicas, const std::string& overrides = "") {
    std::string yaml = kWorkloads;
    yaml.replace(yaml.find("OVERRIDES"), 9, overrides);
    yaml.replace(yaml.find("replicas: 4"), 11, "replicas: " + std::to_string(replicas));
    test_env::WriteFile(dir_ / "workloads.yaml", yaml);
    auto apply = fed_->Fedctl("apply -f " + (dir_ / "workloads.yaml").string());
    ASSERT_EQ(apply.exit_code, 0) << apply.output;
  }

  // "" when every workload still in the federation reports both members synced.
  static std::string NotSynced() {
    for (const std::string& name : kWorkloadNames) {
      json w = fed_->Api(test_env::WorkloadPath(kNs, name));
      if (w.is_null()) continue;  // deleted
      std::set<std::string> synced;
      for (const json& c : w.value("status", json::object()).value("clusters", json::array())) {
        if (c.value("synced", false) && c.value("lastError", "").empty()) {
          synced.insert(c.value("cluster", ""));
        }
      }
      if (synced != std::set<std::string>{"sim-1", "real-1"}) return name + ": " + w.dump();
    }
    return "";
  }
  // Waits until both members' `path` satisfies `ok` and every workload is synced.
  static void Converge(const std::string& path, const std::function<bool(const json&)>& ok) {
    std::string why;
    ASSERT_TRUE(WaitFor(milliseconds(15'000),
                        [&] {
                          for (Member* m : {&sim_, &real_}) {
                            if (!ok(m->Get(path))) {
                              why = m->name + "'s " + path + " is not there yet";
                              return false;
                            }
                          }
                          return (why = NotSynced()).empty();
                        }))
        << why << Logs();
  }

  // Both members' objects: the names present per kind, then each object's stored form. Adds
  // every difference nothing allows to `failures`.
  static void ExpectSameState(const std::string& step) {
    std::vector<Difference> diffs;
    json sim_ns = sim_.Get("/api/v1/namespaces/diff"),
         real_ns = real_.Get("/api/v1/namespaces/diff");
    // Deleting a namespace: membersim's namespace controller empties and removes it after a
    // delay, the real member keeps it Terminating (its namespace controller, not run here,
    // would do the same): both are "going".
    auto state = [](const json& ns) -> std::string {
      if (ns.is_null()) return "deleted";
      if (ns.value("metadata", json::object()).contains("deletionTimestamp")) return "deleted";
      return "present";
    };
    if (state(sim_ns) != state(real_ns)) {
      diffs.push_back({"Namespace", "diff", state(sim_ns), state(real_ns)});
    } else if (state(sim_ns) == "present") {
      for (const Difference& d : Compare("Namespace", "diff", sim_ns, real_ns)) diffs.push_back(d);
      for (const Collection& c : kCollections) {
        std::map<std::string, json> sim_items, real_items;
        for (auto [member, items] :
             {std::pair{&sim_, &sim_items}, std::pair{&real_, &real_items}}) {
          json list = member->Get(c.path);
          for (const json& item : list.value("items", json::array())) {
            (*items)[item["metadata"].value("name", "")] = item;
          }
        }
        std::set<std::string> names;
        for (const auto& [name, _] : sim_items) names.insert(name);
        for (const auto& [name, _] : real_items) names.insert(name);
        for (const std::string& name : names) {
          const std::string object = c.kind + " diff/" + name;
          if (!sim_items.count(name) || !real_items.count(name)) {
            diffs.push_back({c.kind + ":", object, sim_items.count(name) ? "present" : "absent",
                             real_items.count(name) ? "present" : "absent"});
            continue;
          }
          // A list's items carry no kind; the objects are compared as GET returns them.
          json sim_obj = sim_items[name], real_obj = real_items[name];
          sim_obj.erase("kind");
          sim_obj.erase("apiVersion");
          real_obj.erase("kind");
          real_obj.erase("apiVersion");
          for (const Difference& d : Compare(c.kind, object, sim_obj, real_obj)) {
            diffs.push_back(d);
          }
        }
      }
    }
    std::string unexplained;
    for (const Difference& d : diffs) {
      if (!allow_.Allows(d)) unexplained += "  " + d.Describe() + "\n";
    }
    EXPECT_EQ(unexplained, "") << "after " << step
                               << ", differences membersim/known_differences.json does not "
                                  "allow:\n"
                               << unexplained << Logs();
  }

  // Meridian wrote the same to both members since `sim_before` / `real_before`, and
  // `expected` to each.
  static void ExpectSameWrites(const std::string& step, const Writes& sim_before,
                               const Writes& real_before, const Writes& expected) {
    auto delta = [](const Writes& now, const Writes& before) {
      Writes d;
      for (const auto& [verb, n] : now) {
        auto it = before.find(verb);
        if (int64_t x = n - (it == before.end() ? 0 : it->second); x != 0) d[verb] = x;
      }
      return d;
    };
    const Writes sim = delta(sim_.MeridianWrites(), sim_before);
    const Writes real = delta(real_.MeridianWrites(), real_before);
    auto show = [](const Writes& w) {
      std::string s;
      for (const auto& [verb, n] : w) s += verb + "=" + std::to_string(n) + " ";
      return s.empty() ? std::string("none") : s;
    };
    EXPECT_EQ(show(sim), show(real))
        << "Meridian's writes during " << step << " differ (membersim, kube-apiserver)" << Logs();
    EXPECT_EQ(show(real), show(expected))
        << "Meridian's writes to kube-apiserver during " << step << Logs();
  }

  static int64_t Generation(Member& m, const std::string& path) {
    return m.Get(path).value("metadata", json::object()).value("generation", int64_t{-1});
  }
  static json Container(Member& m) {
    json d = m.Get(kDeployment);
    try {
      return d.at("spec").at("template").at("spec").at("containers").at(0);
    } catch (const std::exception&) {
      return json::object();
    }
  }

  static constexpr char kDeployment[] = "/apis/apps/v1/namespaces/diff/deployments/web";
  static inline std::filesystem::path dir_;
  static inline std::unique_ptr<test_env::KubeApiServer> kube_;
  static inline std::unique_ptr<test_env::E2EFederation> fed_;
  static inline Member sim_, real_;
  static inline AllowList allow_;
};

TEST_F(RealMemberDiffE2E, SameScenarioSameResultOnMembersimAndKubeApiserver) {
  auto replicas_are = [](int64_t n) {
    return [n](const json& d) {
      return d.is_object() && d.value("spec", json::object()).value("replicas", int64_t{-1}) == n;
    };
  };
  Writes sim_before = sim_.MeridianWrites(), real_before = real_.MeridianWrites();

  // Propagate: the namespace and one create of each object, nothing else.
  Apply(4);
  Converge(kDeployment, replicas_are(2));
  Converge("/api/v1/namespaces/diff/configmaps/web-config",
           [](const json& o) { return o.is_object() && !o.empty(); });
  Converge("/api/v1/namespaces/diff/services/web",
           [](const json& o) { return o.is_object() && !o.empty(); });
  ExpectSameState("propagate");
  ExpectSameWrites("propagate", sim_before, real_before, {{"create", 4}});
  EXPECT_EQ(Container(real_)["resources"]["requests"]["cpu"], "500m");
  EXPECT_EQ(Container(sim_)["resources"]["requests"]["cpu"], "500m");

  // Quiet: many resyncs, no write, no generation change.
  sim_before = sim_.MeridianWrites();
  real_before = real_.MeridianWrites();
  const int64_t sim_gen = Generation(sim_, kDeployment), real_gen = Generation(real_, kDeployment);
  std::this_thread::sleep_for(milliseconds(kResyncMs * 8));
  EXPECT_EQ(Generation(sim_, kDeployment), sim_gen);
  EXPECT_EQ(Generation(real_, kDeployment), real_gen);
  ExpectSameWrites("the quiet window", sim_before, real_before, {});

  // Hand edit: someone scales the Deployment and adds their own label and annotation. Meridian
  // repairs the scale with one write and leaves what it does not own.
  sim_before = sim_.MeridianWrites();
  real_before = real_.MeridianWrites();
  for (Member* m : {&sim_, &real_}) {
    auto r = m->Request("PATCH", kDeployment,
                        {{"metadata",
                          {{"labels", {{"ops.example.com/pager", "on"}}},
                           {"annotations", {{"ops.example.com/note", "scaled by hand"}}}}},
                         {"spec", {{"replicas", 7}}}});
    ASSERT_EQ(r.code, 200) << m->name << ": " << r.body.dump();
  }
  Converge(kDeployment, [&](const json& d) {
    return replicas_are(2)(d) &&
           d["metadata"]["annotations"].value("ops.example.com/note", "") == "scaled by hand" &&
           d["metadata"]["labels"].value("ops.example.com/pager", "") == "on";
  });
  std::this_thread::sleep_for(milliseconds(kResyncMs * 3));
  ExpectSameState("the hand edit");
  ExpectSameWrites("the hand edit's repair", sim_before, real_before, {{"patch", 1}});

  // Scale: 4 -> 6 replicas, three each.
  sim_before = sim_.MeridianWrites();
  real_before = real_.MeridianWrites();
  Apply(6);
  Converge(kDeployment, replicas_are(3));
  std::this_thread::sleep_for(milliseconds(kResyncMs * 3));
  ExpectSameState("the scale");
  ExpectSameWrites("the scale", sim_before, real_before, {{"patch", 1}});

  // Override: a new image in every member labelled diff=yes (both).
  sim_before = sim_.MeridianWrites();
  real_before = real_.MeridianWrites();
  Apply(6, kImageOverride);
  Converge(kDeployment, [&](const json& d) {
    return replicas_are(3)(d) && d["spec"]["template"]["spec"]["containers"][0].value(
                                     "image", "") == "registry.example.com/shop/web:2.0";
  });
  std::this_thread::sleep_for(milliseconds(kResyncMs * 3));
  ExpectSameState("the override");
  ExpectSameWrites("the override", sim_before, real_before, {{"patch", 1}});

  // Delete one FederatedWorkload: its object goes from both.
  sim_before = sim_.MeridianWrites();
  real_before = real_.MeridianWrites();
  auto deleted =
      test_env::RunCommand("curl -sS -o /dev/null -w '%{http_code}' -X DELETE '" + fed_->api_url() +
                           test_env::WorkloadPath(kNs, "web-config") + "'");
  ASSERT_EQ(deleted.output, "200") << deleted.output;
  Converge("/api/v1/namespaces/diff/configmaps/web-config",
           [](const json& o) { return o.is_null(); });
  std::this_thread::sleep_for(milliseconds(kResyncMs * 3));
  ExpectSameState("the delete");
  ExpectSameWrites("the delete", sim_before, real_before, {{"delete", 1}});

  // Unjoin with cleanup, one member after the other (each keeps its share meanwhile: max 3).
  // The deletes are compared loosely: the propagation controller and fedctl's cleanup race to
  // delete the objects, and membersim's namespace controller empties a Terminating namespace
  // (the real member here runs none). Each member gets deletes only, each object at most once
  // (the namespace, the Service, the Deployment), and the other member nothing.
  for (Member* m : {&sim_, &real_}) {
    Member* other = m == &sim_ ? &real_ : &sim_;
    const Writes before = m->MeridianWrites(), other_before = other->MeridianWrites();
    auto unjoin = fed_->Fedctl("unjoin " + m->name + " --cleanup");
    ASSERT_EQ(unjoin.exit_code, 0) << unjoin.output << Logs();
    EXPECT_EQ(other->MeridianWrites(), other_before)
        << "unjoining " << m->name << " wrote to " << other->name << Logs();
    const Writes after = m->MeridianWrites();
    for (const char* verb : {"create", "update", "patch"}) {
      EXPECT_EQ(after.at(verb), before.at(verb)) << m->name << " " << verb << unjoin.output;
    }
    const int64_t deletes = after.at("delete") - before.at("delete");
    EXPECT_GE(deletes, 1) << m->name << unjoin.output << Logs();
    EXPECT_LE(deletes, 3) << m->name << unjoin.output << Logs();
  }
  ExpectSameState("unjoin --cleanup");

  // Every allowed difference was seen: one no longer seen must leave the README.
  for (const AllowList::Entry& e : allow_.entries) {
    EXPECT_TRUE(allow_.used.count(e.pattern))
        << "membersim/known_differences.json allows " << e.pattern << " (README: \"" << e.readme
        << "\"), which this run did not show: remove it there and from membersim/README.md";
  }
}

// Raw answers, not the state Meridian leaves: namespace termination as any client sees it,
// request by request, on both members (status code and the fields that carry meaning). The
// real member runs no namespace controller, so only what happens before one acts is
// compared; membersim's waits namespaceDeletionDelay (5 s here) before it removes the
// namespace, and empties it at once (so updates inside are not compared).
TEST_F(RealMemberDiffE2E, NamespaceTerminationAnswersAlike) {
  auto pick = [](const json& j, std::initializer_list<const char*> path) -> json {
    const json* at = &j;
    for (const char* k : path) {
      if (!at->is_object() || !at->contains(k)) return "<absent>";
      at = &(*at)[k];
    }
    return *at;
  };
  auto answers = [&](Member& m) {
    std::vector<std::string> out;
    auto note = [&](const std::string& step, const test_env::KubeApiServer::Response& r,
                    const json& fields) {
      out.push_back(step + ": " + std::to_string(r.code) + " " + fields.dump());
    };
    const std::string ns = "going";
    auto r = m.Request("POST", "/api/v1/namespaces",
                       {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    note("create the namespace", r,
         {pick(r.body, {"status", "phase"}), pick(r.body, {"spec", "finalizers"})});
    r = m.Request("DELETE", "/api/v1/namespaces/" + ns);
    note("delete it", r,
         {pick(r.body, {"kind"}), pick(r.body, {"status", "phase"}),
          pick(r.body, {"spec", "finalizers"}),
          pick(r.body, {"metadata", "deletionTimestamp"}).is_string(),
          pick(r.body, {"metadata", "deletionGracePeriodSeconds"})});
    r = m.Request("DELETE", "/api/v1/namespaces/" + ns);
    note("delete it again", r, {pick(r.body, {"kind"}), pick(r.body, {"status", "phase"})});
    r = m.Request("GET", "/api/v1/namespaces/" + ns);
    note("get it", r, {pick(r.body, {"status", "phase"})});
    for (const auto& [what, path, body] :
         {std::tuple{
              "create a ConfigMap in it", "/api/v1/namespaces/going/configmaps",
              json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "c"}}}}},
          std::tuple{"create one by generateName", "/api/v1/namespaces/going/configmaps",
                     json{{"apiVersion", "v1"},
                          {"kind", "ConfigMap"},
                          {"metadata", {{"generateName", "g-"}}}}},
          std::tuple{
              "create a Deployment in it", "/apis/apps/v1/namespaces/going/deployments",
              json{{"apiVersion", "apps/v1"},
                   {"kind", "Deployment"},
                   {"metadata", {{"name", "web"}}},
                   {"spec",
                    {{"selector", {{"matchLabels", {{"app", "web"}}}}},
                     {"template",
                      {{"metadata", {{"labels", {{"app", "web"}}}}},
                       {"spec", {{"containers", {{{"name", "web"}, {"image", "web:1"}}}}}}}}}}}}}) {
      r = m.Request("POST", path, body);
      note(what, r,
           {pick(r.body, {"reason"}), pick(r.body, {"message"}), pick(r.body, {"details"})});
    }
    return out;
  };
  const std::vector<std::string> sim = answers(sim_), real = answers(real_);
  ASSERT_EQ(sim.size(), real.size());
  // What kube-apiserver answers (so that a fixture that answers nothing cannot pass).
  ASSERT_EQ(real.size(), 7u);
  EXPECT_EQ(real[1].rfind("delete it: 200 [\"Namespace\",\"Terminating\"", 0), 0u) << real[1];
  EXPECT_EQ(real[4].rfind("create a ConfigMap in it: 403 [\"Forbidden\"", 0), 0u) << real[4];
  for (size_t i = 0; i < sim.size(); ++i) {
    EXPECT_EQ(sim[i], real[i]) << "membersim (first) and kube-apiserver answer differently";
  }
}

}  // namespace
}  // namespace meridian
