#include "residency/audit_controller.h"

#include <spdlog/spdlog.h>

#include "api/codec.h"
#include "api/typed_list.h"
#include "apimachinery/change_watch.h"
#include "residency/policy.h"
#include "scheduling/placement_inputs.h"
#include "sync/propagation.h"

namespace meridian::residency {
namespace {

constexpr char kWho[] = "residency audit";

// Data-bearing kinds Meridian may copy for a workload: audited wherever it manages them.
const std::vector<sync::GroupVersionResource>& ManagedResources() {
  static const std::vector<sync::GroupVersionResource> kResources = [] {
    std::vector<sync::GroupVersionResource> r = AuditedResources();
    r.push_back({"", "v1", "configmaps"});
    r.push_back({"", "v1", "secrets"});
    return r;
  }();
  return kResources;
}

// Every page of a list. A resource the member does not serve holds nothing (kNotFound).
Status ListAll(sync::MemberClient& client, const sync::GroupVersionResource& gvr,
               const std::string& ns, const std::string& label_selector,
               std::vector<MemberObject>* out) {
  sync::MemberListOptions options;
  options.label_selector = label_selector;
  options.limit = 500;
  do {
    StatusOr<sync::ObjectList> page = client.List(gvr, ns, options);
    if (!page.ok()) {
      return page.status().code() == StatusCode::kNotFound ? Status::Ok() : page.status();
    }
    for (const nlohmann::json& item : page->items) out->push_back(MemberObjectFrom(gvr, item));
    options.continue_token = page->continue_token;
  } while (!options.continue_token.empty());
  return Status::Ok();
}

std::string ClientKey(const api::MemberCluster& m) {
  return m.spec.server + "|" + (m.spec.insecure_skip_tls_verify ? "1" : "0") + "|" +
         m.spec.credentials_ref.ns + "/" + m.spec.credentials_ref.name;
}

apimachinery::ObjectReference PolicyRef(const std::string& name) {
  return {api::kApiVersion, "ResidencyPolicy", "", name, "", ""};
}

}  // namespace

ResidencyAuditController::ResidencyAuditController(apimachinery::ObjectService& objects,
                                                   const Clock& clock,
                                                   sync::MemberClientFactory factory,
                                                   Options options)
    : objects_(objects),
      clock_(clock),
      factory_(std::move(factory)),
      options_(options),
      loop_([this]() -> std::optional<std::chrono::milliseconds> {
        StatusOr<AuditResult> r = ScanOnce();
        if (!r.ok()) spdlog::warn("residency audit: {}", r.status().ToString());
        return options_.interval;
      }) {
  if (objects_.registry().Find("", "v1", "events") != nullptr) {
    events_ = std::make_unique<apimachinery::EventRecorder>(
        objects_, clock_, apimachinery::EventRecorderOptions{.component = "residency-audit"});
  }
}

ResidencyAuditController::~ResidencyAuditController() { Stop(); }

Status ResidencyAuditController::Start() {
  const std::string from = std::to_string(objects_.store().CurrentResourceVersion());
  std::vector<apimachinery::WatchedKind> kinds;
  for (const char* plural : {"residencypolicies", "memberclusters", "federatedworkloads"}) {
    kinds.push_back({api::kGroup, api::kVersion, plural, ""});
  }
  MERIDIAN_ASSIGN_OR_RETURN(watches_,
                            apimachinery::WatchForChanges(
                                objects_, kinds, from, [this] { loop_.MarkDirty(); }, kWho));
  loop_.Start();
  return Status::Ok();
}

void ResidencyAuditController::Stop() {
  watches_.clear();
  loop_.Stop();
}

AuditResult ResidencyAuditController::Last() const {
  std::lock_guard lock(mu_);
  return last_;
}

std::shared_ptr<sync::MemberClient> ResidencyAuditController::ClientFor(const api::MemberCluster& m,
                                                                        std::string* error) {
  auto it = clients_.find(m.metadata.name);
  if (it != clients_.end() && it->second.first == ClientKey(m)) return it->second.second;
  StatusOr<std::shared_ptr<sync::MemberClient>> client = factory_(m);
  if (!client.ok()) {
    *error = client.status().ToString();
    return nullptr;
  }
  clients_[m.metadata.name] = {ClientKey(m), *client};
  return *client;
}

MemberInventory ResidencyAuditController::Inventory(const api::MemberCluster& member,
                                                    const std::vector<std::string>& namespaces) {
  MemberInventory inv;
  inv.member = member.metadata.name;
  std::shared_ptr<sync::MemberClient> client = ClientFor(member, &inv.error);
  if (!client) return inv;
  std::vector<MemberObject> objects;
  auto fail = [&inv](const Status& st) {
    inv.error = st.ToString();
    return inv;
  };
  for (const std::string& ns : namespaces) {
    for (const sync::GroupVersionResource& gvr : AuditedResources()) {
      if (Status st = ListAll(*client, gvr, ns, "", &objects); !st.ok()) return fail(st);
    }
  }
  const std::string managed = std::string(sync::kManagedByLabel) + "=" + sync::kManagedByValue;
  for (const sync::GroupVersionResource& gvr : ManagedResources()) {
    if (Status st = ListAll(*client, gvr, "", managed, &objects); !st.ok()) return fail(st);
  }
  // An object of a named namespace that Meridian manages is listed twice: keep one.
  std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
  for (MemberObject& o : objects) {
    if (seen.insert({o.resource.group, o.resource.resource, o.ns, o.name}).second) {
      inv.objects.push_back(std::move(o));
    }
  }
  inv.verified = true;
  return inv;
}

StatusOr<AuditResult> ResidencyAuditController::ScanOnce() {
  MERIDIAN_ASSIGN_OR_RETURN(
      auto members, api::ListDecoded(objects_, "memberclusters", api::DecodeMemberCluster, kWho));
  MERIDIAN_ASSIGN_OR_RETURN(auto topologies,
                            api::ListDecoded(objects_, "topologies", api::DecodeTopology, kWho));
  MERIDIAN_ASSIGN_OR_RETURN(auto policies, api::ListDecoded(objects_, "residencypolicies",
                                                            api::DecodeResidencyPolicy, kWho));
  MERIDIAN_ASSIGN_OR_RETURN(auto workloads, api::ListDecoded(objects_, "federatedworkloads",
                                                             api::DecodeFederatedWorkload, kWho));
  bool any_bound = !policies.empty();
  for (const api::FederatedWorkload& w : workloads) {
    any_bound = any_bound || AllowedJurisdictionsFor(w, policies).bound;
  }
  AuditResult result;
  if (any_bound) {
    // Jurisdictions come from the fleet's configuration, not its health: no drills applied.
    std::vector<placement::ClusterState> clusters;
    for (const api::MemberCluster& m : members) clusters.push_back(scheduling::ClusterStateFrom(m));
    MERIDIAN_ASSIGN_OR_RETURN(
        auto world,
        placement::World::Build(std::move(clusters), scheduling::MergedTopology(topologies)));
    const std::vector<std::string> namespaces = AuditedNamespaces(policies);
    std::vector<MemberInventory> inventories;
    for (const api::MemberCluster& m : members) inventories.push_back(Inventory(m, namespaces));
    result = AuditResidency(inventories, *world, policies, workloads);
    Report(result, policies, workloads);
  } else {
    open_.clear();  // nothing is residency-bound any more: nothing can be in violation
    unverified_.clear();
  }
  {
    std::lock_guard lock(mu_);
    last_ = result;
  }
  return result;
}

void ResidencyAuditController::Report(const AuditResult& result,
                                      const std::vector<api::ResidencyPolicy>& policies,
                                      const std::vector<api::FederatedWorkload>& workloads) {
  auto record = [this](const apimachinery::ObjectReference& ref, apimachinery::EventType type,
                       const char* reason, const std::string& message) {
    if (events_) events_->Record(ref, type, reason, message);
  };
  std::map<std::string, ResidencyViolation> now;
  for (const ResidencyViolation& v : result.violations) {
    now[v.Key()] = v;
    if (open_.count(v.Key())) continue;
    spdlog::warn("residency audit: {}", v.Describe());
    for (const std::string& p : v.policies) {
      record(PolicyRef(p), apimachinery::EventType::kWarning, "ResidencyViolation", v.Describe());
    }
    if (!v.workload.empty()) {
      for (const api::FederatedWorkload& w : workloads) {
        if (w.metadata.ns + "/" + w.metadata.name != v.workload) continue;
        record({api::kApiVersion, "FederatedWorkload", w.metadata.ns, w.metadata.name,
                w.metadata.uid, ""},
               apimachinery::EventType::kWarning, "ResidencyViolation", v.Describe());
      }
    }
  }
  std::set<std::string> unverified;
  for (const std::string& line : result.unverified) {
    const std::string member = line.substr(0, line.find(':'));
    unverified.insert(member);
    if (unverified_.count(member)) continue;  // reported when it became unverified
    for (const api::ResidencyPolicy& p : policies) {
      record(PolicyRef(p.metadata.name), apimachinery::EventType::kWarning, "ResidencyUnverified",
             "member " + line + " (cannot be audited: unverified, not compliant)");
    }
  }
  for (const auto& [key, v] : open_) {
    if (now.count(key)) continue;
    if (unverified.count(v.member)) {
      now[key] = v;  // cannot see it: still open
      continue;
    }
    for (const std::string& p : v.policies) {
      record(PolicyRef(p), apimachinery::EventType::kNormal, "ResidencyViolationResolved",
             "gone: " + v.Describe());
    }
  }
  open_ = std::move(now);
  unverified_ = std::move(unverified);
}

}  // namespace meridian::residency
