#include "rollout/rollout_controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "api/codec.h"
#include "api/conditions.h"
#include "api/informers.h"
#include "common/parallel.h"
#include "failover/drill.h"
#include "rollout/revisions.h"
#include "rollout/stage_machine.h"
#include "sync/propagation.h"

namespace meridian::rollout {
namespace {

constexpr char kWho[] = "rollout controller";
// Status writes of one pass in flight at once (each waits for the store's commit; writes in
// flight share one): a thousand new workloads each need their first revision recorded.
constexpr size_t kStatusWritesInFlight = 16;

// A live drill that has not ended fails (or is about to fail) its target: a rollout gives
// no member it targets a new revision meanwhile. Nor while the ended drill still watches its
// replicas return (report.returnObservation "watching", at most spec.observeReturnSeconds):
// right after an injected fault is healed the member is still unreachable to Meridian, so a
// revision given then would run its stage's gate timers against a member that cannot be
// written yet (and fail them), and the drill's return would measure the rollout as much as the
// recovery. Drill admission (failover/drill_admission.h) uses the same notion for the other
// direction. A game day fails nothing itself.
bool DrillHoldsItsTarget(const api::FailoverDrill& d) {
  if (d.spec.mode != "live" || d.spec.IsGameDay() || !d.metadata.deletion_timestamp.empty()) {
    return false;
  }
  const std::string& p = d.status.phase;
  if (p != "Completed" && p != "Aborted" && p != "Failed") return true;
  const nlohmann::json& report = d.status.report;
  return report.is_object() && report.value("returnObservation", "") == failover::kReturnWatching;
}

// What the stage machine needs of every placed member.
std::vector<MemberObservation> Observe(const api::FederatedWorkload& w,
                                       const std::map<std::string, api::MemberCluster>& members,
                                       const std::vector<api::FailoverDrill>& drills,
                                       const std::vector<api::ResidencyPolicy>& policies) {
  // What the workload's DNS name may answer (dns/record_sets.h writes no member outside it).
  const std::optional<std::vector<std::string>> allowed =
      w.spec.dns ? failover::AllowedJurisdictions(w, policies) : std::nullopt;
  std::map<std::string, const api::ClusterSyncStatus*> reported;
  for (const api::ClusterSyncStatus& c : w.status.clusters) reported[c.cluster] = &c;
  std::set<std::string> placed;
  for (const auto& lines : {&w.status.placement, &w.status.retained}) {
    for (const api::ClusterPlacement& p : *lines) {
      if (sync::ReplicasForMember(w, p.cluster) > 0) placed.insert(p.cluster);
    }
  }
  std::vector<MemberObservation> out;
  for (const std::string& name : placed) {
    MemberObservation m;
    m.name = name;
    if (auto it = members.find(name); it != members.end()) {
      m.region = it->second.spec.region;
      m.dns_allowed = !allowed || std::find(allowed->begin(), allowed->end(),
                                            it->second.spec.jurisdiction) != allowed->end();
      m.labels = apimachinery::Labels(it->second.metadata.labels.begin(),
                                      it->second.metadata.labels.end());
      for (const api::FailoverDrill& d : drills) {
        if (DrillHoldsItsTarget(d) && failover::TargetTouches(d.spec.target, it->second)) {
          m.drill = d.metadata.name;
          break;
        }
      }
    } else {
      m.dns_allowed = false;  // left the federation: DNS no longer writes it
    }
    if (auto it = reported.find(name); it != reported.end()) {
      m.revision = it->second->revision;
      m.ready = it->second->synced && it->second->revision_ready;
      m.restarts = it->second->restarts;
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

RolloutController::RolloutController(apimachinery::ObjectService& objects, const Clock& clock,
                                     apimachinery::SharedInformerFactory* informers,
                                     PrometheusQuery prometheus)
    : objects_(objects),
      clock_(clock),
      informers_(objects, informers),
      members_(api::MeridianInformer(informers_.factory(), "memberclusters",
                                     api::DecodeMemberCluster, kWho)),
      strategies_(api::MeridianInformer(informers_.factory(), "rolloutstrategies",
                                        api::DecodeRolloutStrategy, kWho)),
      workloads_(api::MeridianInformer(informers_.factory(), "federatedworkloads",
                                       api::DecodeFederatedWorkload, kWho)),
      drills_(api::MeridianInformer(informers_.factory(), "failoverdrills",
                                    api::DecodeFailoverDrill, kWho)),
      policies_(api::MeridianInformer(informers_.factory(), "residencypolicies",
                                      api::DecodeResidencyPolicy, kWho)),
      prometheus_(std::move(prometheus)),
      loop_([this]() -> std::optional<std::chrono::milliseconds> {
        std::optional<Timestamp> next;
        bool whole = false;
        std::set<apimachinery::InformerKey> changed;
        {
          std::lock_guard lock(changes_mu_);
          whole = whole_pass_due_;
          whole_pass_due_ = false;
          changed.swap(changed_);
        }
        StatusOr<int> written = whole ? ReconcileAll(&next) : Reconcile(&changed, &next);
        if (!written.ok()) {
          std::lock_guard lock(changes_mu_);
          whole_pass_due_ = true;
          spdlog::warn("{}: {}", kWho, written.status().ToString());
          return std::chrono::milliseconds(1000);
        }
        if (!next) return std::nullopt;
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*next - clock_.Now());
        return std::max(wait, std::chrono::milliseconds(1));
      }) {
  events_ = apimachinery::EventRecorder::IfServed(
      objects_, clock_, apimachinery::EventRecorderOptions{.component = "rollout-controller"});
  if (prometheus_) {
    evaluator_ = std::make_unique<PrometheusEvaluator>(prometheus_, clock_,
                                                       [this] { loop_.MarkDirty(); });
  }
}

RolloutController::~RolloutController() { Stop(); }

Status RolloutController::Start() {
  // A workload's change: that workload's next pass. Registered before the informers start:
  // the workloads already cached arrive as additions.
  handlers_.emplace_back(workloads_.cache(),
                         apimachinery::InformerHandlers<api::FederatedWorkload>{
                             .on_key = [this](const apimachinery::InformerKey& key) {
                               {
                                 std::lock_guard lock(changes_mu_);
                                 changed_.insert(key);
                               }
                               loop_.MarkDirty();
                             }});
  // A strategy, member, drill or residency policy may change any rollout: a whole pass.
  StatusOr<std::vector<apimachinery::InformerRegistration>> fleet = apimachinery::StartInformers(
      {&strategies_, &drills_, &policies_},
      {apimachinery::OnlyChangesThatMatter(members_, api::MemberClusterChangeMatters)}, [this] {
        {
          std::lock_guard lock(changes_mu_);
          whole_pass_due_ = true;
        }
        loop_.MarkDirty();
      },
      kWho);
  if (!fleet.ok()) {
    handlers_.clear();
    return fleet.status();
  }
  for (auto& h : *fleet) handlers_.push_back(std::move(h));
  if (Status st = workloads_.Start(); !st.ok()) {
    handlers_.clear();
    return UnavailableError(std::string(kWho) + ": " + st.message());
  }
  started_ = true;
  loop_.Start();
  return Status::Ok();
}

void RolloutController::Stop() {
  handlers_.clear();  // no more MarkDirty from the (possibly shared) informers
  evaluator_.reset();  // waits for a query being asked; no more MarkDirty from it either
  loop_.Stop();
  informers_.StopOwn();
}

StatusOr<int> RolloutController::ReconcileAll(std::optional<Timestamp>* next) {
  return Reconcile(nullptr, next);
}

StatusOr<int> RolloutController::Reconcile(const std::set<apimachinery::InformerKey>* keys,
                                           std::optional<Timestamp>* next) {
  MERIDIAN_ASSIGN_OR_RETURN(auto member_list, apimachinery::InformerValues(members_, started_));
  MERIDIAN_ASSIGN_OR_RETURN(auto strategy_list,
                            apimachinery::InformerValues(strategies_, started_));
  // Shared read-only, not copied. A whole pass looks at every workload; otherwise the changed
  // ones and those with a rollout (their waits, soaks and gates end with time).
  std::vector<std::shared_ptr<const api::FederatedWorkload>> workloads;
  if (keys == nullptr) {
    MERIDIAN_ASSIGN_OR_RETURN(workloads, apimachinery::InformerList(workloads_, started_));
    rolling_.clear();
  } else {
    std::set<apimachinery::InformerKey> visit = *keys;
    visit.insert(rolling_.begin(), rolling_.end());
    for (const apimachinery::InformerKey& key : visit) {
      if (auto w = workloads_.cache().Get(key)) {
        workloads.push_back(std::move(w));
      } else {
        rolling_.erase(key);  // gone
        samples_.erase(key.ToString());
      }
    }
  }
  MERIDIAN_ASSIGN_OR_RETURN(auto drills, apimachinery::InformerValues(drills_, started_));
  MERIDIAN_ASSIGN_OR_RETURN(auto policies, apimachinery::InformerValues(policies_, started_));
  std::map<std::string, api::MemberCluster> members;
  for (auto& m : member_list) members[m.metadata.name] = std::move(m);
  std::map<std::string, api::RolloutStrategySpec> strategies;
  for (auto& s : strategy_list) strategies[s.metadata.name] = std::move(s.spec);
  const apimachinery::ResourceInfo& info =
      api::MeridianResource(objects_, "federatedworkloads", kWho);

  // What the rollout decides for `w` now: its status and the events to record; nothing when
  // this pass decides nothing for it (being deleted, or an evaluation is on its way).
  struct Decision {
    api::FederatedWorkloadStatus status;
    std::vector<RolloutEvent> events;
  };
  auto decide = [&](const api::FederatedWorkload& w,
                    const std::string& key) -> std::optional<Decision> {
    if (!w.metadata.deletion_timestamp.empty()) return std::nullopt;
    const Timestamp now = clock_.Now();
    api::FederatedWorkloadStatus status = w.status;
    RecordRevision(w, now, &status);
    std::vector<RolloutEvent> events;
    if (w.spec.rollout) {
      StageMachineInput in;
      in.revision = status.revisions.back().revision;
      in.paused = w.spec.rollout->paused;
      in.dns = w.spec.dns.has_value();
      in.dns_ttl_seconds = w.spec.dns ? w.spec.dns->ttl : 0;
      if (auto s = samples_.find(key); s != samples_.end()) in.prometheus = s->second;
      in.now = now;
      in.members = Observe(w, members, drills, policies);
      if (auto a = w.metadata.annotations.find(api::kRolloutApprovedAnnotation);
          a != w.metadata.annotations.end()) {
        in.approval = a->second;
      }
      std::optional<api::RolloutStatus> previous = status.rollout;
      if (!previous && status.revisions.size() > 1) {
        // spec.rollout was added to a workload that ran the revision before this one:
        // that one is the stable revision to roll out from.
        api::RolloutStatus seeded;
        seeded.revision = seeded.stable_revision =
            status.revisions[status.revisions.size() - 2].revision;
        seeded.phase = "Complete";
        previous = seeded;
      }
      std::string missing;
      if (w.spec.rollout->strategy) {
        in.strategy = &*w.spec.rollout->strategy;
      } else if (auto s = strategies.find(w.spec.rollout->strategy_ref); s != strategies.end()) {
        in.strategy = &s->second;
      } else {
        // Hold every member where it is until the strategy exists.
        missing = "RolloutStrategy " + w.spec.rollout->strategy_ref + " not found";
        in.paused = true;
        in.strategy = nullptr;
      }
      StageMachineOutput out;
      bool asked = false;  // an evaluation is on its way: this pass decides nothing
      if (missing.empty()) {
        out = Step(in, previous);
        if (out.evaluate) {
          // The gate is being judged and no evaluation is fresh: decide with the one that
          // came back, or ask for one and leave the rollout as it is until it comes.
          if (std::optional<PrometheusSample> sample = Evaluation(key, *out.evaluate)) {
            in.prometheus = samples_[key] = std::move(*sample);
            out = Step(in, previous);
          } else {
            asked = true;
          }
        }
      } else if (previous) {
        out.state = *previous;
        out.condition_status = "False";
        out.condition_reason = "StrategyNotFound";
        out.condition_message = missing;
      } else {
        out = Step(in, previous);  // the first revision goes everywhere regardless
      }
      if (asked) return std::nullopt;  // the answer's arrival marks the loop dirty
      status.rollout = out.state;
      api::SetCondition(&status.conditions,
                        api::Condition{.type = "Rollout",
                                       .status = out.condition_status,
                                       .reason = out.condition_reason,
                                       .message = out.condition_message,
                                       .observed_generation = w.metadata.generation},
                        now);
      events = std::move(out.events);
      if (out.requeue_at && next && (!*next || *out.requeue_at < **next)) {
        *next = out.requeue_at;
      }
    } else if (status.rollout) {
      status.rollout.reset();  // spec.rollout removed: every member runs spec.template
      std::erase_if(status.conditions,
                    [](const api::Condition& c) { return c.type == "Rollout"; });
    }
    return Decision{std::move(status), std::move(events)};
  };

  // The statuses that differ, written together after the decisions (kStatusWritesInFlight at
  // a time: each write waits for the store's commit, and writes in flight share one).
  struct StatusWrite {
    std::string key;
    api::FederatedWorkload updated;
    std::vector<RolloutEvent> events;
    apimachinery::ApiResult<nlohmann::json> result =
        apimachinery::ApiError::Internal("not written");
  };
  std::vector<StatusWrite> writes;
  for (const auto& cached : workloads) {
    std::string key = cached->metadata.ns + "/" + cached->metadata.name;
    const apimachinery::InformerKey informer_key{cached->metadata.ns, cached->metadata.name};
    if (cached->spec.rollout || cached->status.rollout) {
      rolling_.insert(informer_key);
    } else {
      rolling_.erase(informer_key);
    }
    // No staged rollout, and its revisions recorded: nothing to write (most workloads, most
    // passes), decided without a copy.
    if (!cached->spec.rollout && !cached->status.rollout && RevisionsCurrent(*cached)) continue;
    std::optional<Decision> decided = decide(*cached, key);
    if (!decided || decided->status == cached->status) continue;
    api::FederatedWorkload updated = *cached;
    updated.status = std::move(decided->status);
    writes.push_back({std::move(key), std::move(updated), std::move(decided->events)});
  }
  auto write = [&](StatusWrite& sw) {
    sw.result = objects_.Update(info, sw.updated.metadata.ns, sw.updated.metadata.name,
                                api::Encode(sw.updated), "status");
  };
  ForEachInParallel(writes.size(), kStatusWritesInFlight, [&](size_t k) { write(writes[k]); });
  int written = 0;
  for (StatusWrite& sw : writes) {
    for (int attempt = 1;; ++attempt) {
      if (sw.result.ok()) {
        ++written;
        workloads_.Assume(sw.result.value());  // the next pass reads what was written
        if (events_) {
          const auto ref = apimachinery::ReferenceTo(sw.result.value());
          for (const RolloutEvent& e : sw.events) {
            events_->Record(ref,
                            e.type == "Warning" ? apimachinery::EventType::kWarning
                                                : apimachinery::EventType::kNormal,
                            e.reason, e.message);
          }
        }
        break;
      }
      const api::FederatedWorkload& w = sw.updated;
      if (sw.result.error().code != 409) {
        if (sw.result.error().code != 404) {
          spdlog::warn("{}: writing status of {}/{}: {}", kWho, w.metadata.ns, w.metadata.name,
                       sw.result.error().message);
        }
        break;
      }
      if (attempt == 5) break;
      // Written meanwhile (placement, propagation): decide again from the new object.
      auto again = objects_.Get(info, w.metadata.ns, w.metadata.name);
      if (!again.ok()) break;
      FieldErrors errors;
      api::FederatedWorkload fresh = api::DecodeFederatedWorkload(again.value(), &errors);
      if (!errors.empty()) break;
      std::optional<Decision> decided = decide(fresh, sw.key);
      if (!decided || decided->status == fresh.status) break;
      sw.updated = std::move(fresh);
      sw.updated.status = std::move(decided->status);
      sw.events = std::move(decided->events);
      write(sw);
    }
  }
  // Evaluations are kept for workloads with a rollout only.
  std::set<std::string> rolling;
  for (const apimachinery::InformerKey& key : rolling_) rolling.insert(key.ToString());
  std::erase_if(samples_, [&](const auto& entry) { return rolling.count(entry.first) == 0; });
  if (evaluator_) evaluator_->Retain(rolling);
  return written;
}

std::optional<PrometheusSample> RolloutController::Evaluation(const std::string& key,
                                                              const std::string& query) {
  if (!evaluator_) {
    PrometheusSample sample;
    sample.query = query;
    sample.at = clock_.Now();
    sample.error = "no Prometheus to ask (the controller manager runs without --prometheus-url)";
    return sample;
  }
  if (std::optional<PrometheusSample> sample = evaluator_->Take(key, query)) return sample;
  evaluator_->Request(key, query);
  return std::nullopt;
}

}  // namespace meridian::rollout
