// Residency torture test (issue 14): random sequences of zone, region and cluster failures,
// heals, network partitions, live drills, ResidencyPolicy edits and workload edits, run in
// process against the real placement and propagation controllers (an in-process
// federation-apiserver, FakeMemberClients as the five members of examples/three-continents,
// the FakeClock). After every step and after each controller pass (the sampled instants):
//   1. no member of a jurisdiction residency forbids holds a replica, PVC, Secret or ConfigMap
//      of a residency-bound workload — except while it is still allowed "in flight": a
//      member that was allowed at some state since Meridian last finished syncing it (a
//      policy tightened with the disruption acknowledged, its replicas are being removed);
//   2. Meridian never writes (create, update, patch) such an object into a member residency
//      forbids under the policies in force during that write;
//   3. the evidence ledger's latest Placement of every residency-bound workload is what the
//      workload's status says, names only allowed jurisdictions, and every member Meridian
//      reports synced holds exactly those replicas;
//   4. the residency audit's findings are the truth: it reports every forbidden object in a
//      member it can list, and nothing else.
// Seeded and replayable: a failure prints its seed and the steps so far. Environment:
//   MERIDIAN_TORTURE_SEQUENCES  how many sequences (default 20, CI); the full run is 500
//   MERIDIAN_TORTURE_SEED       the first sequence's seed (default 20261205); sequence i uses
//                               seed + i, so one failing sequence replays alone with
//                               MERIDIAN_TORTURE_SEED=<its seed> MERIDIAN_TORTURE_SEQUENCES=1
//   MERIDIAN_TORTURE_STEPS      steps per sequence (default 8)
//   MERIDIAN_TORTURE_VERBOSE=1  prints every sequence's steps, not only a failing one's
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "api/codec.h"
#include "api/conditions.h"
#include "api/typed_list.h"
#include "failover/drill_admission.h"
#include "residency/audit_controller.h"
#include "residency/policy.h"
#include "scheduling/placement_controller.h"
#include "sync/propagation.h"
#include "sync/propagation_controller.h"
#include "sync/testing/fake_member_client.h"
#include "test/common/in_process_federation.h"

namespace meridian::residency {
namespace {

using nlohmann::json;
using sync::GroupVersionResource;
using sync::testing::FakeMemberClient;
using sync::testing::Verb;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoll(v, nullptr, 10) : fallback;
}

struct MemberInfo {
  std::string name, region, jurisdiction;
  std::vector<std::string> zones;
};

const std::vector<MemberInfo>& Members() {
  static const std::vector<MemberInfo> kMembers = {
      {"us-east-1", "us-east", "us", {"us-east-1a", "us-east-1b", "us-east-1c"}},
      {"us-west-1", "us-west", "us", {"us-west-1a", "us-west-1b"}},
      {"eu-west-1", "eu-west", "eu", {"eu-west-1a", "eu-west-1b", "eu-west-1c"}},
      {"eu-central-1", "eu-central", "eu", {"eu-central-1a", "eu-central-1b"}},
      {"ap-south-1", "ap-south", "in", {"ap-south-1a", "ap-south-1b"}},
  };
  return kMembers;
}

// A workload of the test and the member resource its template becomes.
struct WorkloadInfo {
  std::string ns, name;
  GroupVersionResource gvr;
  bool replicas;  // the template has spec.replicas (placed), else copied to every eligible member
};

const std::vector<WorkloadInfo>& Workloads() {
  static const std::vector<WorkloadInfo> kWorkloads = {
      {"payments", "ledger", {"apps", "v1", "deployments"}, true},
      {"payments", "ledger-db", {"apps", "v1", "statefulsets"}, true},
      {"payments", "ledger-config", {"", "v1", "configmaps"}, false},
      {"payments", "ledger-secret", {"", "v1", "secrets"}, false},
      {"payments", "ledger-data", {"", "v1", "persistentvolumeclaims"}, false},
      {"default", "crm", {"apps", "v1", "deployments"}, true},
      {"shop", "web", {"apps", "v1", "deployments"}, true},
  };
  return kWorkloads;
}

json Template(const WorkloadInfo& w, int replicas) {
  const std::string& r = w.gvr.resource;
  if (r == "deployments") {
    return {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"labels", {{"app", w.name}}}}},
            {"spec",
             {{"replicas", replicas},
              {"template",
               {{"spec", {{"containers", {{{"name", "c"}, {"image", w.name + ":1"}}}}}}}}}}};
  }
  if (r == "statefulsets") {
    return json::parse(R"({"apiVersion": "apps/v1", "kind": "StatefulSet",
      "spec": {"replicas": )" +
                       std::to_string(replicas) + R"(, "serviceName": "ledger-db",
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes":
          ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})");
  }
  if (r == "configmaps") {
    return {
        {"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"data", {{"n", std::to_string(replicas)}}}};
  }
  if (r == "secrets") {
    return {{"apiVersion", "v1"}, {"kind", "Secret"}, {"data", {{"key", "czNjcmV0"}}}};
  }
  return json::parse(R"({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})");
}

// One sequence: a fresh federation, fakes and controllers, then `steps` random steps.
class Sequence {
 public:
  explicit Sequence(uint64_t seed) : rng_(seed) {
    for (const MemberInfo& m : Members()) {
      FakeMemberClient::Options o;
      o.member = m.name;
      o.clock = &federation_.clock();
      o.timeout = std::chrono::milliseconds(200);
      fakes_[m.name] = std::make_shared<FakeMemberClient>(o);
    }
  }

  // Runs the sequence; returns "" or what broke (with the steps taken).
  std::string Run(int steps) {
    if (std::string e = Setup(); !e.empty()) return e;
    for (int i = 0; i < steps && failure_.empty(); ++i) {
      Step();
      Settle();
    }
    return failure_.empty() ? "" : failure_ + "\nsteps:\n" + log_;
  }

  int refused() const { return refused_; }
  const std::string& log() const { return log_; }
  int samples() const { return samples_; }

 private:
  sync::MemberClientFactory Factory() {
    return [this](const api::MemberCluster& m) -> StatusOr<std::shared_ptr<sync::MemberClient>> {
      auto it = fakes_.find(m.metadata.name);
      if (it == fakes_.end()) return NotFoundError("no fake for " + m.metadata.name);
      return std::shared_ptr<sync::MemberClient>(it->second);
    };
  }

  const apimachinery::ResourceInfo& Info(const std::string& kind) {
    return federation_.Info(kind == "Namespace" ? "v1" : api::kApiVersion, kind);
  }

  std::string Setup() {
    for (const char* file : {"topology.yaml", "members.yaml"}) {
      federation_.ApplyFile(std::string("examples/three-continents/") + file);
    }
    for (const char* ns : {"payments", "shop"}) {
      federation_.Apply(
          {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    }
    federation_.ApplyFile("examples/eu-residency/residency-policy.yaml");
    for (const WorkloadInfo& w : Workloads()) {
      json o = {{"apiVersion", api::kApiVersion},
                {"kind", "FederatedWorkload"},
                {"metadata", {{"name", w.name}, {"namespace", w.ns}}},
                {"spec", {{"template", Template(w, w.name == "ledger-db" ? 2 : 6)}}}};
      if (w.name == "crm") o["spec"]["placement"] = {{"residency", {{"jurisdictions", {"eu"}}}}};
      federation_.Apply(o);
    }
    if (::testing::Test::HasFailure()) return "setup failed";
    placement_ = std::make_unique<scheduling::PlacementController>(federation_.objects(),
                                                                   federation_.clock());
    propagation_ = std::make_unique<sync::PropagationController>(federation_.objects(),
                                                                 federation_.clock(), Factory());
    audit_ = std::make_unique<ResidencyAuditController>(
        federation_.objects(), federation_.clock(), Factory(), ResidencyAuditController::Options{});
    Note("setup");
    Settle();
    return failure_;
  }

  void Note(const std::string& what) { log_ += "  " + what + "\n"; }

  template <typename T>
  const T& Pick(const std::vector<T>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng_)];
  }
  bool Coin() { return std::uniform_int_distribution<int>(0, 1)(rng_) == 1; }

  // ---- steps ----

  void Step() {
    switch (std::uniform_int_distribution<int>(0, 8)(rng_)) {
      case 0:
        FailZone();
        break;
      case 1:
        FailRegionOrCluster(/*region=*/true);
        break;
      case 2:
        FailRegionOrCluster(/*region=*/false);
        break;
      case 3:
        Partition();
        break;
      case 4:
      case 5:
        Heal();
        break;
      case 6:
        Drill();
        break;
      case 7:
        EditPolicy();
        break;
      default:
        EditWorkload();
        break;
    }
    RememberAllowed();
  }

  // Writes a member's status as the health controller would: Reachable and per-zone health.
  void WriteHealth(const MemberInfo& m) {
    const auto& info = Info("MemberCluster");
    json o = federation_.objects().Get(info, "", m.name).value();
    const bool down = down_.count(m.name) > 0;
    const std::string now = FormatRfc3339(federation_.clock().Now());
    json zones = json::array();
    for (const std::string& z : m.zones) {
      zones.push_back({{"name", z}, {"healthy", !down && !failed_zones_.count(z)}});
    }
    o["status"] = {{"conditions",
                    {{{"type", "Reachable"},
                      {"status", down ? "False" : "True"},
                      {"reason", down ? "ProbeFailed" : "Recovered"},
                      {"lastTransitionTime", now}}}},
                   {"zones", zones}};
    auto r = federation_.objects().Update(info, "", m.name, o, "status");
    if (!r.ok()) failure_ = "writing the health of " + m.name + ": " + r.error().message;
  }

  const MemberInfo& MemberNamed(const std::string& name) {
    for (const MemberInfo& m : Members()) {
      if (m.name == name) return m;
    }
    return Members()[0];
  }

  void FailZone() {
    const MemberInfo& m = Pick(Members());
    const std::string& z = Pick(m.zones);
    failed_zones_.insert(z);
    Note("zone " + z + " fails");
    WriteHealth(m);
  }

  void FailRegionOrCluster(bool region) {
    const MemberInfo& pick = Pick(Members());
    Note(std::string(region ? "region " + pick.region : "cluster " + pick.name) + " fails");
    for (const MemberInfo& m : Members()) {
      if (region ? m.region != pick.region : m.name != pick.name) continue;
      down_.insert(m.name);
      fakes_[m.name]->FailEverything(UnavailableError("connection refused"));
      WriteHealth(m);
    }
  }

  // The network to a member breaks, but health has not noticed yet: placement still counts on
  // it, propagation cannot reach it.
  void Partition() {
    const MemberInfo& m = Pick(Members());
    Note("partition from " + m.name);
    partitioned_.insert(m.name);
    fakes_[m.name]->FailEverything(UnavailableError("no route to host"));
  }

  void Heal() {
    std::vector<std::string> broken(down_.begin(), down_.end());
    broken.insert(broken.end(), partitioned_.begin(), partitioned_.end());
    for (const std::string& z : failed_zones_) broken.push_back("zone:" + z);
    if (!drills_.empty() && Coin()) {
      EndDrill();
      return;
    }
    if (broken.empty()) {
      Note("nothing to heal");
      return;
    }
    const std::string what = Pick(broken);
    Note("heal " + what);
    if (what.rfind("zone:", 0) == 0) {
      const std::string z = what.substr(5);
      failed_zones_.erase(z);
      for (const MemberInfo& m : Members()) {
        if (std::find(m.zones.begin(), m.zones.end(), z) != m.zones.end()) WriteHealth(m);
      }
      return;
    }
    down_.erase(what);
    partitioned_.erase(what);
    fakes_[what]->ClearFailures();
    WriteHealth(MemberNamed(what));
  }

  void Drill() {
    const MemberInfo& m = Pick(Members());
    const int kind = std::uniform_int_distribution<int>(0, 2)(rng_);
    json target = kind == 0   ? json{{"zone", Pick(m.zones)}}
                  : kind == 1 ? json{{"region", m.region}}
                              : json{{"cluster", m.name}};
    const std::string name = "drill-" + std::to_string(++drill_count_);
    json d = {{"apiVersion", api::kApiVersion},
              {"kind", "FailoverDrill"},
              {"metadata", {{"name", name}}},
              {"spec", {{"target", target}, {"mode", "live"}, {"durationSeconds", 600}}}};
    if (Coin())
      d["metadata"]["annotations"] = {{failover::kAllowResidencyOutageAnnotation, "true"}};
    const auto& info = Info("FailoverDrill");
    auto created = federation_.objects().Create(info, "", d);
    if (!created.ok()) {
      ++refused_;
      Note("live drill on " + target.dump() + " refused: " + created.error().message);
      return;
    }
    json running = created.value();
    running["status"] = {{"phase", "Running"},
                         {"startTime", FormatRfc3339(federation_.clock().Now())}};
    auto r = federation_.objects().Update(info, "", name, running, "status");
    if (!r.ok()) {
      failure_ = "starting drill " + name + ": " + r.error().message;
      return;
    }
    drills_.push_back(name);
    Note("live drill " + name + " on " + target.dump());
  }

  void EndDrill() {
    const std::string name = drills_.back();
    drills_.pop_back();
    const auto& info = Info("FailoverDrill");
    json d = federation_.objects().Get(info, "", name).value();
    d["status"]["phase"] = "Completed";
    d["status"]["completionTime"] = FormatRfc3339(federation_.clock().Now());
    auto r = federation_.objects().Update(info, "", name, d, "status");
    if (!r.ok()) failure_ = "ending drill " + name + ": " + r.error().message;
    Note("drill " + name + " ends");
  }

  // A policy change goes through admission; half of them carry the acknowledgement.
  void EditPolicy() {
    const auto& info = Info("ResidencyPolicy");
    const bool ack = Coin();
    auto acknowledge = [ack](json* p) {
      if (ack) {
        (*p)["metadata"]["annotations"][kAcknowledgeDisruptionAnnotation] = "true";
      } else if ((*p)["metadata"].contains("annotations")) {
        (*p)["metadata"]["annotations"].erase(kAcknowledgeDisruptionAnnotation);
      }
    };
    const int what = std::uniform_int_distribution<int>(0, 3)(rng_);
    std::string change;
    apimachinery::ApiResult<json> r = federation_.objects().Get(info, "", "payments-eu-only");
    if (what == 0 || what == 1) {
      json p = r.value();
      p["spec"]["jurisdictions"] = what == 0 ? json{"eu", "us"} : json{"eu"};
      acknowledge(&p);
      change = std::string("payments-eu-only allows ") + (what == 0 ? "eu, us" : "eu");
      r = federation_.objects().Update(info, "", "payments-eu-only", p);
    } else if (what == 2) {
      json p = r.value();
      p["spec"]["enforcement"] =
          p["spec"].value("enforcement", "report") == "remove" ? "report" : "remove";
      change = "payments-eu-only enforcement " + p["spec"]["enforcement"].get<std::string>();
      r = federation_.objects().Update(info, "", "payments-eu-only", p);
    } else if (!federation_.objects().Get(info, "", "payments-in-only").ok()) {
      json p = {{"apiVersion", api::kApiVersion},
                {"kind", "ResidencyPolicy"},
                {"metadata", {{"name", "payments-in-only"}}},
                {"spec", {{"namespaces", {"payments"}}, {"jurisdictions", {"in"}}}}};
      acknowledge(&p);
      change = "payments-in-only created";
      r = federation_.objects().Create(info, "", p);
    } else {
      change = "payments-in-only deleted";
      r = federation_.objects().Delete(info, "", "payments-in-only", {});
    }
    if (!r.ok()) {
      ++refused_;
      Note(change + (ack ? " (acknowledged)" : "") + ": refused: " + r.error().message);
      return;
    }
    Note(change + (ack ? " (acknowledged)" : ""));
  }

  void EditWorkload() {
    const auto& info = Info("FederatedWorkload");
    const WorkloadInfo& w = Pick(Workloads());
    json o = federation_.objects().Get(info, w.ns, w.name).value();
    std::string change;
    if (w.name == "crm" && Coin()) {
      const int r = std::uniform_int_distribution<int>(0, 2)(rng_);
      if (r == 2) {
        o["spec"].erase("placement");
        change = "crm: no own residency";
      } else {
        o["spec"]["placement"] = {
            {"residency", {{"jurisdictions", r == 0 ? json{"eu"} : json{"eu", "us"}}}}};
        change = std::string("crm: own residency ") + (r == 0 ? "eu" : "eu, us");
      }
    } else {
      const int n = std::uniform_int_distribution<int>(1, 12)(rng_);
      json tmpl = Template(w, n);
      tmpl["metadata"] = o["spec"]["template"].value("metadata", json::object());
      o["spec"]["template"] = tmpl;
      change = w.ns + "/" + w.name + (w.replicas ? " scaled to " : " edited ") + std::to_string(n);
    }
    auto r = federation_.objects().Update(info, w.ns, w.name, o);
    if (!r.ok()) {
      ++refused_;
      Note(change + ": refused: " + r.error().message);
      return;
    }
    Note(change);
  }

  // ---- the facts, as they are now ----

  std::vector<api::ResidencyPolicy> Policies() {
    StatusOr<std::vector<api::ResidencyPolicy>> list = api::ListDecoded(
        federation_.objects(), "residencypolicies", api::DecodeResidencyPolicy, "torture");
    if (!list.ok()) {
      Fail("listing policies: " + list.status().ToString());
      return {};
    }
    return *list;
  }
  std::map<std::string, api::FederatedWorkload> FederatedWorkloads() {
    std::map<std::string, api::FederatedWorkload> out;
    StatusOr<std::vector<api::FederatedWorkload>> list = api::ListDecoded(
        federation_.objects(), "federatedworkloads", api::DecodeFederatedWorkload, "torture");
    if (!list.ok()) {
      Fail("listing workloads: " + list.status().ToString());
      return out;
    }
    for (api::FederatedWorkload& w : *list) out[w.metadata.ns + "/" + w.metadata.name] = w;
    return out;
  }

  // Whether `member` may hold `workload` under the policies in force; nullopt when unbound.
  std::map<std::string, placement::AllowedJurisdictions> Allowed() {
    std::map<std::string, placement::AllowedJurisdictions> out;
    const auto policies = Policies();
    for (const auto& [key, w] : FederatedWorkloads()) {
      out[key] = AllowedJurisdictionsFor(w, policies);
    }
    return out;
  }

  // Records, for each (workload, member), that it was allowed at this state.
  void RememberAllowed() {
    for (const auto& [key, allowed] : Allowed()) {
      for (const MemberInfo& m : Members()) {
        if (allowed.Allows(m.jurisdiction)) in_flight_.insert({key, m.name});
      }
    }
  }

  bool Reachable(const std::string& member) {
    return !down_.count(member) && !partitioned_.count(member);
  }

  void Fail(const std::string& what) {
    if (failure_.empty()) failure_ = what;
  }

  // ---- the sampled instants ----

  void Settle() {
    federation_.clock().Advance(
        std::chrono::seconds(std::uniform_int_distribution<int>(1, 90)(rng_)));
    RememberAllowed();
    if (!placement_->ReconcileAll().ok()) Fail("placement pass failed");
    Sample("after placement");
    for (auto& [name, fake] : fakes_) fake->ClearCalls();
    if (!propagation_->ReconcileAll().ok()) Fail("propagation pass failed");
    CheckWrites();
    // A member Meridian reached with nothing left to do is in sync: what was allowed only in
    // flight must be gone from it now.
    for (const MemberInfo& m : Members()) {
      if (!Reachable(m.name) || propagation_->QueueLength(m.name) > 0) continue;
      const auto allowed = Allowed();
      for (auto it = in_flight_.begin(); it != in_flight_.end();) {
        auto a = allowed.find(it->first);
        if (it->second == m.name && (a == allowed.end() || !a->second.Allows(m.jurisdiction))) {
          it = in_flight_.erase(it);
        } else {
          ++it;
        }
      }
    }
    Sample("after propagation");
    CheckLedger();
    CheckAudit();
  }

  // 1. Nothing forbidden is held (beyond what is in flight).
  void Sample(const std::string& when) {
    ++samples_;
    for (const auto& [key, allowed] : Allowed()) {
      if (!allowed.bound) continue;
      const WorkloadInfo* w = Find(key);
      if (!w) continue;
      for (const MemberInfo& m : Members()) {
        if (allowed.Allows(m.jurisdiction) || in_flight_.count({key, m.name})) continue;
        if (fakes_[m.name]->Object(w->gvr, w->ns, w->name)) {
          auto o = federation_.objects().Get(Info("FederatedWorkload"), w->ns, w->name);
          Fail(when + ": member " + m.name + " (" + m.jurisdiction + ") holds " + w->gvr.resource +
               " " + key + " of a residency-bound workload it does not allow; its status: " +
               (o.ok() ? o.value().value("status", json::object()).dump() : "?"));
        }
      }
    }
  }

  const WorkloadInfo* Find(const std::string& key) {
    for (const WorkloadInfo& w : Workloads()) {
      if (w.ns + "/" + w.name == key) return &w;
    }
    return nullptr;
  }

  // 2. No write of a residency-bound object into a member residency forbids.
  void CheckWrites() {
    const auto allowed = Allowed();
    for (const MemberInfo& m : Members()) {
      for (const FakeMemberClient::Call& c : fakes_[m.name]->Calls()) {
        if (c.verb != Verb::kCreate && c.verb != Verb::kUpdate && c.verb != Verb::kMergePatch &&
            c.verb != Verb::kJsonPatch) {
          continue;
        }
        auto a = allowed.find(c.ns + "/" + c.name);
        if (a == allowed.end() || a->second.Allows(m.jurisdiction)) continue;
        Fail("propagation wrote " + c.gvr.resource + " " + c.ns + "/" + c.name + " to member " +
             m.name + " (" + m.jurisdiction + ") which residency forbids");
      }
    }
  }

  // 3. The ledger's placements are the statuses, allowed, and what synced members hold.
  void CheckLedger() {
    std::map<std::string, json> latest;
    auto list = federation_.objects().List(Info("ResidencyEvidence"), "", {});
    if (!list.ok()) return Fail("listing the ledger: " + list.error().message);
    for (const json& o : list.value()["items"]) {
      if (o["spec"].value("type", "") != "Placement") continue;
      const json& d = o["spec"]["data"];
      latest[d.value("workload", "")] = d;
    }
    const auto allowed = Allowed();
    for (const auto& [key, w] : FederatedWorkloads()) {
      auto a = allowed.find(key);
      if (a == allowed.end() || !a->second.bound) continue;
      auto entry = latest.find(key);
      if (entry == latest.end() || entry->second.value("unbound", false)) {
        return Fail("the ledger has no placement of residency-bound " + key);
      }
      std::map<std::string, int64_t> ledger_placed, status_placed, retained;
      for (const json& c : entry->second["clusters"]) {
        ledger_placed[c["cluster"]] = c["replicas"];
        if (!a->second.Allows(c.value("jurisdiction", ""))) {
          Fail("the ledger places " + key + " in " + c.dump() + ", which residency forbids");
        }
      }
      for (const json& c : entry->second.value("retained", json::array())) {
        retained[c["cluster"]] = c["replicas"];
      }
      for (const auto& p : w.status.placement) {
        if (p.replicas > 0) status_placed[p.cluster] += p.replicas;
      }
      if (ledger_placed != status_placed) {
        Fail("the ledger's placement of " + key + " (" + entry->second["clusters"].dump() +
             ") is not its status'");
      }
      const WorkloadInfo* info = Find(key);
      if (!info || !info->replicas) continue;
      for (const auto& c : w.status.clusters) {
        if (!c.synced || !Reachable(c.cluster)) continue;
        auto held = fakes_[c.cluster]->Object(info->gvr, info->ns, info->name);
        const int64_t want = std::max(ledger_placed[c.cluster], retained[c.cluster]);
        const int64_t got = held ? held->at("spec").value("replicas", int64_t{0}) : 0;
        if (got != want) {
          Fail("member " + c.cluster + " is reported synced with " + std::to_string(got) +
               " replicas of " + key + "; the ledger says " + std::to_string(want));
        }
      }
    }
  }

  // 4. The audit reports every forbidden object it can see, and nothing else.
  void CheckAudit() {
    StatusOr<AuditResult> r = audit_->ScanOnce();
    if (!r.ok()) return Fail("audit scan: " + r.status().ToString());
    std::set<std::string> reported, truth;
    for (const ResidencyViolation& v : r->violations) {
      reported.insert(v.member + " " + v.object.ns + "/" + v.object.name);
    }
    for (const auto& [key, allowed] : Allowed()) {
      const WorkloadInfo* w = Find(key);
      if (!allowed.bound || !w) continue;
      for (const MemberInfo& m : Members()) {
        if (!Reachable(m.name) || allowed.Allows(m.jurisdiction)) continue;
        if (fakes_[m.name]->Object(w->gvr, w->ns, w->name)) truth.insert(m.name + " " + key);
      }
    }
    if (reported != truth) {
      Fail("the audit reports " + ::testing::PrintToString(reported) + " but members hold " +
           ::testing::PrintToString(truth));
    }
    for (const std::string& m : down_) {
      bool unverified = false;
      for (const std::string& u : r->unverified)
        unverified = unverified || u.rfind(m + ":", 0) == 0;
      if (!unverified) Fail("the audit counts unreachable member " + m + " as verified");
    }
  }

  std::mt19937_64 rng_;
  test_env::InProcessFederation federation_{"residency-torture"};
  std::map<std::string, std::shared_ptr<FakeMemberClient>> fakes_;
  std::unique_ptr<scheduling::PlacementController> placement_;
  std::unique_ptr<sync::PropagationController> propagation_;
  std::unique_ptr<ResidencyAuditController> audit_;
  std::set<std::string> down_, partitioned_, failed_zones_;
  std::vector<std::string> drills_;
  int drill_count_ = 0;
  // (workload, member): allowed at some state since Meridian last finished syncing the member.
  std::set<std::pair<std::string, std::string>> in_flight_;
  std::string failure_, log_;
  int refused_ = 0, samples_ = 0;
};

TEST(ResidencyTortureTest, NoMemberOfADisallowedJurisdictionEverHoldsResidencyBoundObjects) {
  const int64_t sequences = EnvInt("MERIDIAN_TORTURE_SEQUENCES", 20);
  const int64_t seed = EnvInt("MERIDIAN_TORTURE_SEED", 20261205);
  const int steps = static_cast<int>(EnvInt("MERIDIAN_TORTURE_STEPS", 8));
  const bool verbose = EnvInt("MERIDIAN_TORTURE_VERBOSE", 0) != 0;
  // Each sequence is a fresh SQLite store; its fsyncs are not under test here and dominate
  // the run on a disk, so the stores go to tmpfs when there is one (TMPDIR wins if set).
  if (std::getenv("TMPDIR") == nullptr && std::filesystem::is_directory("/dev/shm")) {
    setenv("TMPDIR", "/dev/shm", 0);
  }
  const auto start = std::chrono::steady_clock::now();
  int64_t samples = 0, refused = 0;
  for (int64_t i = 0; i < sequences; ++i) {
    Sequence s(static_cast<uint64_t>(seed + i));
    const std::string failure = s.Run(steps);
    if (verbose) std::printf("seed %lld:\n%s", static_cast<long long>(seed + i), s.log().c_str());
    samples += s.samples();
    refused += s.refused();
    ASSERT_EQ(failure, "") << "seed " << seed + i << " (replay: MERIDIAN_TORTURE_SEED=" << seed + i
                           << " MERIDIAN_TORTURE_SEQUENCES=1)";
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::printf(
      "%lld sequences x %d steps from seed %lld: %lld sampled instants, %lld changes "
      "refused by admission, %lld ms\n",
      static_cast<long long>(sequences), steps, static_cast<long long>(seed),
      static_cast<long long>(samples), static_cast<long long>(refused), static_cast<long long>(ms));
}

}  // namespace
}  // namespace meridian::residency
