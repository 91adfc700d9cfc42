#include "residency/audit_controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "api/codec.h"
#include "api/conditions.h"
#include "api/informers.h"
#include "residency/enforcement.h"
#include "residency/policy.h"
#include "scheduling/placement_inputs.h"
#include "sync/propagation.h"

namespace meridian::residency {
namespace {

constexpr char kWho[] = "residency audit";
// Why a member is unverified while it lists what the policies now name (a namespace a policy
// has just named): the status and the evidence say so, but no Event is written for it (it
// ends by itself, and one Event per member and policy on every policy change was noise).
constexpr char kStillListing[] = "listing what the policies now name";

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

apimachinery::ObjectReference PolicyRef(const std::string& name) {
  return {api::kApiVersion, "ResidencyPolicy", "", name, "", ""};
}

// A violation as evidence: what, where, under which policies.
nlohmann::json ViolationData(const ResidencyViolation& v) {
  nlohmann::json d = {{"key", v.Key()},
                      {"member", v.member},
                      {"jurisdiction", v.jurisdiction},
                      {"kind", v.object.kind.empty() ? v.object.resource.resource : v.object.kind},
                      {"namespace", v.object.ns},
                      {"name", v.object.name},
                      {"policies", v.policies},
                      {"allowed", v.allowed},
                      {"message", v.Describe()}};
  if (!v.workload.empty()) d["workload"] = v.workload;
  return d;
}

// A policy as evidence: what it allows, and who changed it last (when known).
nlohmann::json PolicyData(const api::ResidencyPolicy& p) {
  nlohmann::json d = {
      {"policy", p.metadata.name},
      {"generation", p.metadata.generation},
      {"namespaces", p.spec.namespaces},
      {"jurisdictions", p.spec.jurisdictions},
      {"workloadSelector", apimachinery::EncodeLabelSelector(p.spec.workload_selector)}};
  auto by = p.metadata.annotations.find(kChangedByAnnotation);
  d["user"] = by == p.metadata.annotations.end() ? "" : by->second;
  if (p.spec.enforcement != "report") d["enforcement"] = p.spec.enforcement;
  return d;
}

// An Event about `v` on every policy that governs it and on its workload (if Meridian manages
// it for one). `events` may be null (no events resource).
void RecordAbout(apimachinery::EventRecorder* events, const ResidencyViolation& v,
                 const std::vector<std::shared_ptr<const api::FederatedWorkload>>& workloads,
                 apimachinery::EventType type, const char* reason, const std::string& message) {
  if (!events) return;
  for (const std::string& p : v.policies) events->Record(PolicyRef(p), type, reason, message);
  if (v.workload.empty()) return;
  for (const auto& w : workloads) {
    const api::ObjectMeta& m = w->metadata;
    if (m.ns + "/" + m.name != v.workload) continue;
    events->Record({api::kApiVersion, "FederatedWorkload", m.ns, m.name, m.uid, ""}, type, reason,
                   message);
  }
}

// Whether a workload's change can change what the audit's view holds or judges: its identity,
// labels (which policies govern it), deletion, or placement block (residency, jurisdictions).
// Its status and template cannot.
bool WorkloadChangeMatters(const api::FederatedWorkload& old, const api::FederatedWorkload& now) {
  return old.metadata.uid != now.metadata.uid || old.metadata.labels != now.metadata.labels ||
         old.metadata.deletion_timestamp != now.metadata.deletion_timestamp ||
         old.spec.placement != now.spec.placement;
}

// "member us-east-1 (us) holds Deployment payments/rogue (...); and 2 more"
std::string ListViolations(const std::vector<const ResidencyViolation*>& violations) {
  std::string out;
  for (size_t i = 0; i < violations.size() && i < 3; ++i) {
    out += (i ? "; " : "") + violations[i]->Describe();
  }
  if (violations.size() > 3) out += "; and " + std::to_string(violations.size() - 3) + " more";
  return out;
}

}  // namespace

ResidencyAuditController::ResidencyAuditController(apimachinery::ObjectService& objects,
                                                   const Clock& clock,
                                                   sync::MemberClientFactory factory,
                                                   Options options,
                                                   apimachinery::SharedInformerFactory* informers)
    : objects_(objects),
      clock_(clock),
      options_(options),
      clients_(std::move(factory)),
      informers_(objects, informers),
      members_informer_(api::MeridianInformer(informers_.factory(), "memberclusters",
                                              api::DecodeMemberCluster, kWho)),
      topologies_informer_(
          api::MeridianInformer(informers_.factory(), "topologies", api::DecodeTopology, kWho)),
      policies_informer_(api::MeridianInformer(informers_.factory(), "residencypolicies",
                                               api::DecodeResidencyPolicy, kWho)),
      workloads_informer_(api::MeridianInformer(informers_.factory(), "federatedworkloads",
                                                api::DecodeFederatedWorkload, kWho)),
      loop_([this]() -> std::optional<std::chrono::milliseconds> {
        StatusOr<AuditResult> r = Pass(/*full=*/false);
        if (!r.ok()) spdlog::warn("residency audit: {}", r.status().ToString());
        return options_.interval;
      }) {
  events_ = apimachinery::EventRecorder::IfServed(
      objects_, clock_, apimachinery::EventRecorderOptions{.component = "residency-audit"});
  ledger_ = EvidenceLedger::For(objects_, clock_);
}

ResidencyAuditController::~ResidencyAuditController() { Stop(); }

Status ResidencyAuditController::Start() {
  auto view_changed = [this] {
    view_dirty_ = true;
    loop_.MarkDirty();
  };
  MERIDIAN_ASSIGN_OR_RETURN(
      handlers_,
      apimachinery::StartInformers(
          {&policies_informer_, &topologies_informer_},
          {apimachinery::OnlyChangesThatMatter(members_informer_,
                                               api::MemberClusterChangeMatters)},
          view_changed, kWho));
  // Workloads with handlers of their own: only a change the view reads marks it dirty.
  handlers_.emplace_back(
      workloads_informer_.cache(),
      apimachinery::InformerHandlers<api::FederatedWorkload>{
          .on_add = [view_changed](const auto&) { view_changed(); },
          .on_update =
              [view_changed](const auto& old, const auto& now) {
                if (WorkloadChangeMatters(*old, *now)) view_changed();
              },
          .on_delete = [view_changed](const auto&) { view_changed(); }});
  if (Status st = workloads_informer_.Start(); !st.ok()) {
    handlers_.clear();
    return UnavailableError(std::string(kWho) + ": " + st.message());
  }
  started_ = true;
  loop_.Start();
  return Status::Ok();
}

void ResidencyAuditController::Stop() {
  handlers_.clear();  // no more marks from the (possibly shared) informers
  loop_.Stop();
  informers_.StopOwn();
  slots_.clear();  // stops the member watches (waits for lists in flight)
  view_.reset();
  view_dirty_ = true;
}

AuditResult ResidencyAuditController::Last() const {
  std::lock_guard lock(mu_);
  return last_;
}

StatusOr<AuditResult> ResidencyAuditController::ScanOnce() { return Pass(/*full=*/true); }

Status ResidencyAuditController::RefreshView() {
  View v;
  MERIDIAN_ASSIGN_OR_RETURN(v.members, apimachinery::InformerValues(members_informer_, started_));
  MERIDIAN_ASSIGN_OR_RETURN(auto topologies,
                            apimachinery::InformerValues(topologies_informer_, started_));
  MERIDIAN_ASSIGN_OR_RETURN(v.policies, apimachinery::InformerValues(policies_informer_, started_));
  MERIDIAN_ASSIGN_OR_RETURN(v.workloads, apimachinery::InformerList(workloads_informer_, started_));
  v.any_bound = !v.policies.empty();
  for (const auto& shared : v.workloads) {
    if (v.any_bound) break;
    v.any_bound = AllowedJurisdictionsFor(*shared, v.policies).bound;
  }
  if (v.any_bound) {
    // What judging reads. Only when something is bound: nothing is judged otherwise, and the
    // view is refreshed on every workload created (each binding of a native object too), so
    // describing every workload each time was most of the audit's cost on a fleet without
    // residency. (Unbound -> bound changes `governing` from "": every member is re-judged.)
    nlohmann::json governing = nlohmann::json::array();
    for (const api::ResidencyPolicy& p : v.policies) governing.push_back(PolicyData(p));
    for (const auto& shared : v.workloads) {
      const api::FederatedWorkload& w = *shared;
      const std::vector<placement::ResidencyRule> rules = ResidencyRulesFor(w, v.policies);
      governing.push_back({w.metadata.ns, w.metadata.name, sync::WorkloadLabelValue(w),
                           placement::DescribeAllowed(w.spec.placement, rules)});
    }
    workloads_described_.fetch_add(static_cast<int64_t>(v.workloads.size()));
    v.governing = governing.dump();
    // Jurisdictions come from the fleet's configuration, not its health: no drills applied.
    std::vector<placement::ClusterState> clusters;
    for (const api::MemberCluster& m : v.members) {
      clusters.push_back(scheduling::ClusterStateFrom(m));
    }
    MERIDIAN_ASSIGN_OR_RETURN(
        v.world,
        placement::World::Build(std::move(clusters), scheduling::MergedTopology(topologies)));
    const std::string managed = std::string(sync::kManagedByLabel) + "=" + sync::kManagedByValue;
    for (const std::string& ns : AuditedNamespaces(v.policies)) {
      for (const sync::GroupVersionResource& gvr : AuditedResources())
        v.specs.push_back({gvr, ns, ""});
    }
    for (const sync::GroupVersionResource& gvr : ManagedResources()) {
      v.specs.push_back({gvr, "", managed});
    }
  }
  const bool governing_changed = !view_ || view_->governing != v.governing;
  view_ = std::move(v);
  if (!view_->any_bound) return Status::Ok();
  // The judge refers to the view's vectors: made where they now live.
  view_->judge = std::make_unique<ResidencyJudge>(*view_->world, view_->policies, view_->workloads);
  std::set<std::string> names;
  for (const api::MemberCluster& m : view_->members) {
    const std::string& name = m.metadata.name;
    names.insert(name);
    Slot& slot = slots_[name];
    std::string error;
    std::shared_ptr<sync::MemberClient> client = clients_.Get(m, &error);
    if (client != slot.client) {  // a new member, or its server or credentials changed
      slot.client = std::move(client);
      slot.client_error = error;
      slot.fresh = true;
      slot.next_relist = {};
      slot.failures = 0;
    }
    const std::optional<uint32_t> index = view_->world->FindCluster(name);
    const std::string jurisdiction = index ? view_->world->jurisdiction_of(*index) : "";
    if (governing_changed || jurisdiction != slot.jurisdiction) slot.rejudge = true;
    slot.jurisdiction = jurisdiction;
  }
  std::erase_if(slots_, [&names](const auto& entry) { return !names.count(entry.first); });
  return Status::Ok();
}

void ResidencyAuditController::StartList(Slot& slot) {
  member_lists_.fetch_add(1);
  // A fresh copy (new client, full scan, resync) replaces the old one once it is complete;
  // otherwise the member's own copy is brought to the current specs (only new ones listed).
  if (slot.fresh || !slot.cache) {
    slot.listing_into = std::make_shared<internal::MemberAuditCache>([this] { loop_.MarkDirty(); });
  } else {
    slot.listing_into = slot.cache;
  }
  slot.listed_with = slot.client;
  slot.listing = std::async(
      std::launch::async,
      [client = slot.client, into = slot.listing_into, specs = view_->specs,
       options = options_.member_watch]() { return into->Watch(*client, specs, options); });
}

void ResidencyAuditController::FinishList(Slot& slot) {
  const Status listed = slot.listing.get();
  std::shared_ptr<internal::MemberAuditCache> into = std::move(slot.listing_into);
  if (!listed.ok()) {
    if (slot.list_error.empty()) {  // said once per outage, not per retry
      spdlog::warn("residency audit: listing member {}: {} (unverified until listed)",
                   slot.client ? slot.client->member() : "?", listed.ToString());
    }
    slot.list_error = listed.ToString();
    ++slot.failures;
    auto backoff = options_.relist_backoff;
    for (int i = 1; i < slot.failures && backoff < options_.max_relist_backoff; ++i) backoff *= 2;
    slot.next_relist = clock_.Now() + std::min(backoff, options_.max_relist_backoff);
    return;
  }
  if (slot.listed_with != slot.client) return;  // listed through a client since replaced
  if (into != slot.cache) {
    slot.cache = std::move(into);  // the old copy's watches stop here
    slot.fresh = false;
  }
  slot.list_error.clear();
  slot.failures = 0;
  slot.rejudge = true;
}

void ResidencyAuditController::Judge(const std::string& name, Slot& slot) {
  if (!slot.cache) {
    slot.violations.clear();
    return;
  }
  const std::optional<uint32_t> index = view_->world->FindCluster(name);
  if (!index) return;
  ResidencyJudge& judge = *view_->judge;
  if (slot.rejudge) {
    slot.cache->TakeChanged();
    slot.violations.clear();
    slot.cache->ForEach([&](const std::string& key, const MemberObject& o) {
      if (auto v = judge.Judge(name, *index, o)) slot.violations.emplace(key, std::move(*v));
    });
    slot.rejudge = false;
    return;
  }
  for (const std::string& key : slot.cache->TakeChanged()) {
    std::optional<MemberObject> o = slot.cache->Find(key);
    std::optional<ResidencyViolation> v;
    if (o) v = judge.Judge(name, *index, *o);
    if (v) {
      slot.violations[key] = std::move(*v);
    } else {
      slot.violations.erase(key);
    }
  }
}

std::string ResidencyAuditController::Unverified(const Slot& slot) const {
  if (!slot.client) return slot.client_error.empty() ? "no client" : slot.client_error;
  if (!slot.list_error.empty()) return slot.list_error;
  if (!slot.cache) return "not listed yet";
  if (!slot.cache->Covers(view_->specs)) return kStillListing;
  return slot.cache->Down();
}

StatusOr<AuditResult> ResidencyAuditController::Pass(bool full) {
  AppendUnrecorded();  // what an earlier pass could not record, first
  if (full || view_dirty_.exchange(false) || !view_) {
    if (Status st = RefreshView(); !st.ok()) {
      view_dirty_ = true;
      return st;
    }
  }
  AuditResult result;
  if (!view_->any_bound) {
    RecordPolicies(view_->policies);
    slots_.clear();  // nothing is residency-bound: nothing to watch
    open_.clear();   // nor can anything be in violation
    reported_unverified_.clear();
    std::lock_guard lock(mu_);
    last_ = result;
    return result;
  }
  const Timestamp now = clock_.Now();
  if (full || (options_.resync.count() > 0 && now >= next_resync_)) {
    for (auto& [name, slot] : slots_) {
      slot.fresh = true;
      slot.next_relist = {};
    }
    next_resync_ = now + options_.resync;
  }
  // Lists run on threads of their own, at most max_concurrent_lists at once: a hundred
  // members listed at the same moment make a member (or membersim) time out.
  size_t running = 0;
  for (auto& [name, slot] : slots_) {
    using namespace std::chrono_literals;
    if (slot.listing.valid() && slot.listing.wait_for(0s) == std::future_status::ready) {
      FinishList(slot);
    }
    running += slot.listing.valid() ? 1 : 0;
  }
  // A watch that is down is the member client's to resume (or relist on 410): no list here.
  auto due = [&](const Slot& slot) {
    const bool wanted = slot.fresh || !slot.cache || !slot.cache->Covers(view_->specs);
    return slot.client && wanted && !slot.listing.valid() && now >= slot.next_relist;
  };
  for (auto& [name, slot] : slots_) {
    if (running >= options_.max_concurrent_lists) break;
    if (due(slot)) {
      StartList(slot);
      ++running;
    }
  }
  // Before reporting, a full scan waits for every list; a pass for the first list of a member
  // (one nobody has listed yet is neither verified nor worth an Unverified report for being
  // slow). They are started as lists end, so the bound holds here too.
  auto must = [full](const Slot& slot) { return full || (!slot.cache && slot.list_error.empty()); };
  for (bool progress = true; progress;) {
    progress = false;
    for (auto& [name, slot] : slots_) {
      if (!slot.listing.valid() || !must(slot)) continue;
      slot.listing.wait();
      FinishList(slot);
      --running;
      progress = true;
      break;  // one at a time, so that the next can start
    }
    for (auto& [name, slot] : slots_) {
      if (running >= options_.max_concurrent_lists) break;
      if (due(slot) && must(slot)) {
        StartList(slot);
        ++running;
        progress = true;
      }
    }
  }
  for (auto& [name, slot] : slots_) Judge(name, slot);
  std::set<std::string> still_listing;
  for (const api::MemberCluster& m : view_->members) {
    const Slot& slot = slots_[m.metadata.name];
    if (const std::string why = Unverified(slot); !why.empty()) {
      result.unverified.push_back(m.metadata.name + ": " + why);
      if (why == kStillListing) still_listing.insert(m.metadata.name);
      continue;
    }
    ++result.members_verified;
    result.objects_seen += static_cast<int64_t>(slot.cache->size());
    for (const auto& [key, v] : slot.violations) result.violations.push_back(v);
  }
  const View& view = *view_;
  RecordPolicies(view.policies);
  Report(result, still_listing, view.policies, view.workloads);
  Enforce(&result, view.policies, view.members, view.workloads);
  RecordScan(result, view.members);
  UpdatePolicyStatus(result, view.policies);
  {
    std::lock_guard lock(mu_);
    last_ = result;
  }
  return result;
}

void ResidencyAuditController::Report(const AuditResult& result,
                                      const std::set<std::string>& still_listing,
                                      const std::vector<api::ResidencyPolicy>& policies,
                                      const Workloads& workloads) {
  auto record = [this](const apimachinery::ObjectReference& ref, apimachinery::EventType type,
                       const char* reason, const std::string& message) {
    if (events_) events_->Record(ref, type, reason, message);
  };
  std::map<std::string, ResidencyViolation> now;
  for (const ResidencyViolation& v : result.violations) {
    now[v.Key()] = v;
    if (open_.count(v.Key())) continue;
    spdlog::warn("residency audit: {}", v.Describe());
    Append("ViolationOpened", ViolationData(v));
    RecordAbout(events_.get(), v, workloads, apimachinery::EventType::kWarning,
                "ResidencyViolation", v.Describe());
  }
  std::set<std::string> unverified, reported;
  for (const std::string& line : result.unverified) {
    const std::string member = line.substr(0, line.find(':'));
    unverified.insert(member);
    const bool was_reported = reported_unverified_.count(member) > 0;
    if (was_reported) reported.insert(member);
    // Reported when it became unverified; a member only still listing is not reported (but
    // is when its listing fails: that is a new reason).
    if (was_reported || still_listing.count(member)) continue;
    reported.insert(member);
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
    Append("ViolationResolved", ViolationData(v));
  }
  open_ = std::move(now);
  reported_unverified_ = std::move(reported);
}

void ResidencyAuditController::Enforce(AuditResult* result,
                                       const std::vector<api::ResidencyPolicy>& policies,
                                       const std::vector<api::MemberCluster>& members,
                                       const Workloads& workloads) {
  std::set<std::string> not_enforceable;
  for (ResidencyViolation& v : result->violations) {
    const EnforcementPlan plan = PlanEnforcement(v, policies);
    if (plan.action == EnforcementAction::kNone) continue;
    const std::string message = DescribeEnforcement(v, plan);
    auto evidence = [&](const char* outcome) {
      nlohmann::json data = ViolationData(v);
      data["action"] = EnforcementActionName(plan.action);
      data["policy"] = plan.policy;
      data["outcome"] = outcome;
      data["message"] = message;
      if (v.object.replicas) data["previousReplicas"] = *v.object.replicas;
      Append("Enforcement", std::move(data));
    };
    if (plan.action == EnforcementAction::kNotEnforceable) {
      not_enforceable.insert(v.Key());
      if (not_enforceable_.count(v.Key())) continue;  // said once while it stays open
      spdlog::warn("residency audit: {}", message);
      RecordAbout(events_.get(), v, workloads, apimachinery::EventType::kWarning,
                  "ResidencyNotEnforced", message);
      evidence("NotEnforced");
      continue;
    }
    auto member = std::find_if(members.begin(), members.end(), [&](const api::MemberCluster& m) {
      return m.metadata.name == v.member;
    });
    if (member == members.end()) continue;  // gone from the fleet since the scan listed it
    std::string error;
    std::shared_ptr<sync::MemberClient> client = clients_.Get(*member, &error);
    Status st = client ? Status::Ok() : UnavailableError(error);
    if (client && plan.action == EnforcementAction::kDelete) {
      sync::MemberDeleteOptions options;
      options.precondition_uid = v.object.uid;  // this Pod, not a namesake created since
      st = client->Delete(v.object.resource, v.object.ns, v.object.name, options);
    } else if (client) {
      StatusOr<nlohmann::json> patched =
          client->MergePatch(v.object.resource, v.object.ns, v.object.name, plan.patch);
      st = patched.status();
      // The next pass must judge the object as written, even before its watch event arrives.
      auto slot = slots_.find(v.member);
      if (patched.ok() && slot != slots_.end() && slot->second.cache) {
        slot->second.cache->Observe(v.object.resource, *patched);
      }
    }
    if (st.code() == StatusCode::kNotFound || st.code() == StatusCode::kAborted) {
      continue;  // gone or changed since the list: the next scan judges what is there now
    }
    if (!st.ok()) {
      spdlog::warn("residency audit: enforcing: {}: {}", message, st.ToString());
      RecordAbout(events_.get(), v, workloads, apimachinery::EventType::kWarning,
                  "ResidencyEnforcementFailed", message + ": failed: " + st.ToString());
      continue;  // tried again next scan
    }
    spdlog::info("residency audit: {}", message);
    RecordAbout(events_.get(), v, workloads, apimachinery::EventType::kNormal, "ResidencyEnforced",
                message);
    evidence("Done");
    result->enforced.push_back(message);
    if (plan.action == EnforcementAction::kScaleToZero) v.object.replicas = 0;
    if (plan.action == EnforcementAction::kSuspend) v.object.suspended = true;
  }
  not_enforceable_ = std::move(not_enforceable);
}

void ResidencyAuditController::UpdatePolicyStatus(
    const AuditResult& result, const std::vector<api::ResidencyPolicy>& policies) {
  const apimachinery::ResourceInfo* info =
      objects_.registry().Find(api::kGroup, api::kVersion, "residencypolicies");
  if (info == nullptr) return;
  const Timestamp now = clock_.Now();
  for (const api::ResidencyPolicy& p : policies) {
    std::vector<const ResidencyViolation*> mine;
    int64_t enforced = 0;
    for (const ResidencyViolation& v : result.violations) {
      if (std::find(v.policies.begin(), v.policies.end(), p.metadata.name) == v.policies.end()) {
        continue;
      }
      mine.push_back(&v);
      enforced += HeldAtZero(v.object) ? 1 : 0;
    }
    api::ResidencyPolicyStatus status = p.status;
    status.violations = static_cast<int64_t>(mine.size());
    status.enforced = enforced;
    status.unverified_members = static_cast<int64_t>(result.unverified.size());
    api::Condition c{.type = "Compliant", .observed_generation = p.metadata.generation};
    if (!mine.empty()) {
      c.status = "False";
      c.reason = "ResidencyViolations";
      c.message = std::to_string(mine.size()) + " object(s) in members of jurisdictions it " +
                  "does not allow" +
                  (enforced ? " (" + std::to_string(enforced) + " held at zero)" : "") + ": " +
                  ListViolations(mine);
    } else if (!result.unverified.empty()) {
      c.status = "Unknown";
      c.reason = "MembersUnverified";
      // Names only: the reasons (timeouts, refusals) vary per scan and would rewrite the status.
      std::string names;
      for (const std::string& line : result.unverified) {
        names += (names.empty() ? "" : ", ") + line.substr(0, line.find(':'));
      }
      c.message = "no violation seen, but " + std::to_string(result.unverified.size()) +
                  " member(s) could not be audited (unverified, not compliant): " + names;
    } else {
      c.status = "True";
      c.reason = "NoViolations";
      c.message = "every member verified (" + std::to_string(result.members_verified) +
                  "); no object it governs outside " + [&p] {
                    std::string j;
                    for (const std::string& x : p.spec.jurisdictions)
                      j += (j.empty() ? "" : ",") + x;
                    return j;
                  }();
    }
    api::SetCondition(&status.conditions, std::move(c), now);
    if (status == p.status) continue;
    api::ResidencyPolicy updated = p;
    updated.status = std::move(status);
    auto written = objects_.Update(*info, "", p.metadata.name, api::Encode(updated), "status");
    if (written.ok()) policies_informer_.Assume(written.value());  // the next view has it
    if (!written.ok() && written.error().code != 404 && written.error().code != 409) {
      spdlog::warn("residency audit: writing the status of ResidencyPolicy {}: {}", p.metadata.name,
                   written.error().message);
    }  // a conflict or a delete: the next scan starts from what is stored then
  }
}

void ResidencyAuditController::Append(const char* type, nlohmann::json data) {
  if (!ledger_) return;
  unrecorded_.push_back({type, std::move(data), clock_.Now()});
  AppendUnrecorded();
}

void ResidencyAuditController::AppendUnrecorded() {
  // In order, and stopping at the first failure: the chain keeps the order things happened.
  while (ledger_ && !unrecorded_.empty()) {
    Unrecorded& next = unrecorded_.front();
    nlohmann::json data = next.data;
    // Late: say when it was seen, since the entry's own time is when it was written.
    if (next.failures > 0) data["observedAt"] = FormatRfc3339(next.observed);
    StatusOr<EvidenceEntry> e = ledger_->Append(next.type, std::move(data));
    if (!e.ok()) {
      ++next.failures;
      spdlog::error(
          "residency audit: recording {} evidence failed ({} entries waiting, retried on the next "
          "pass): {}",
          next.type, unrecorded_.size(), e.status().ToString());
      return;
    }
    unrecorded_.pop_front();
  }
}

void ResidencyAuditController::RecordScan(const AuditResult& result,
                                          const std::vector<api::MemberCluster>& members) {
  if (!ledger_) return;
  nlohmann::json verified = nlohmann::json::array(), unverified = nlohmann::json::array(),
                 unverified_names = nlohmann::json::array();
  std::set<std::string> unverified_set;
  for (const std::string& line : result.unverified) {
    const size_t colon = line.find(':');
    const std::string member = line.substr(0, colon);
    unverified_set.insert(member);
    unverified_names.push_back(member);
    unverified.push_back(
        {{"member", member},
         {"reason",
          colon == std::string::npos ? "" : line.substr(std::min(colon + 2, line.size()))}});
  }
  for (const api::MemberCluster& m : members) {
    if (!unverified_set.count(m.metadata.name)) verified.push_back(m.metadata.name);
  }
  nlohmann::json open = nlohmann::json::array();
  for (const auto& [key, v] : open_) open.push_back(key);
  // What must change for a new entry: who was looked at and what was open. Object counts
  // move with every Pod and are recorded but do not count as a change.
  nlohmann::json outcome = {{"membersVerified", verified},
                            {"membersUnverified", unverified_names},
                            {"openViolations", open}};
  const Timestamp now = clock_.Now();
  if (outcome == recorded_scan_ && now - recorded_scan_at_ < options_.evidence_heartbeat) return;
  nlohmann::json data = {
      {"membersVerified", verified},
      {"membersUnverified", unverified},
      {"objectsSeen", result.objects_seen},
      {"violations", static_cast<int64_t>(result.violations.size())},
      {"openViolations", open},
      {"heartbeatSeconds",
       std::chrono::duration_cast<std::chrono::seconds>(options_.evidence_heartbeat).count()}};
  StatusOr<EvidenceEntry> e = ledger_->Append("AuditScan", std::move(data));
  if (!e.ok()) {
    spdlog::warn("residency audit: recording the scan: {}", e.status().ToString());
    return;
  }
  recorded_scan_ = std::move(outcome);
  recorded_scan_at_ = now;
}

void ResidencyAuditController::RecordPolicies(const std::vector<api::ResidencyPolicy>& policies) {
  if (!ledger_) return;
  // After a (re)start nothing is known of what was recorded before: every policy is recorded
  // as Observed once, so the ledger always holds the set in force.
  const bool first = !recorded_policies_.has_value();
  const std::map<std::string, nlohmann::json> before =
      first ? std::map<std::string, nlohmann::json>{} : *recorded_policies_;
  auto append = [&](const char* change, nlohmann::json data) {
    data["change"] = change;
    StatusOr<EvidenceEntry> e = ledger_->Append("PolicyChange", std::move(data));
    if (!e.ok())
      spdlog::warn("residency audit: recording a policy change: {}", e.status().ToString());
    return e.ok();
  };
  // What the ledger holds afterwards; a failed append keeps the old state, so it is retried.
  std::map<std::string, nlohmann::json> recorded;
  for (const api::ResidencyPolicy& p : policies) {
    nlohmann::json data = PolicyData(p);
    auto it = before.find(p.metadata.name);
    if (it != before.end() && it->second == data) {
      recorded[p.metadata.name] = std::move(data);
      continue;
    }
    const char* change = first ? "Observed" : it == before.end() ? "Created" : "Updated";
    if (append(change, data)) {
      recorded[p.metadata.name] = std::move(data);
    } else if (it != before.end()) {
      recorded[p.metadata.name] = it->second;
    }
  }
  for (const auto& [name, data] : before) {
    const std::string& policy = name;  // clang 14 cannot capture a structured binding
    if (recorded.count(name) || std::any_of(policies.begin(), policies.end(), [&](const auto& p) {
          return p.metadata.name == policy;
        })) {
      continue;
    }
    nlohmann::json gone = data;
    gone["user"] = "";  // a delete leaves no object to say who did it
    if (!append("Deleted", std::move(gone))) recorded[name] = data;
  }
  recorded_policies_ = std::move(recorded);
}

}  // namespace meridian::residency
