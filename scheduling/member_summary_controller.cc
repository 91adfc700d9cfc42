#include "scheduling/member_summary_controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "api/codec.h"
#include "api/informers.h"
#include "scheduling/member_summary.h"

namespace meridian::scheduling {
namespace {

constexpr char kWho[] = "member-summary controller";
constexpr int kAttempts = 5;  // compare-and-swap rounds before leaving a member to the next pass

}  // namespace

MemberSummaryController::MemberSummaryController(apimachinery::ObjectService& objects,
                                                 const Clock& clock, Options options,
                                                 apimachinery::SharedInformerFactory* informers)
    : objects_(objects),
      clock_(clock),
      options_(options),
      informers_(objects, informers),
      members_(api::MeridianInformer(informers_.factory(), "memberclusters",
                                     api::DecodeMemberCluster, kWho)),
      workloads_(api::MeridianInformer(informers_.factory(), "federatedworkloads",
                                       api::DecodeFederatedWorkload, kWho)),
      loop_([this] { return Pass(); }) {}

MemberSummaryController::~MemberSummaryController() { Stop(); }

Status MemberSummaryController::Start() {
  MERIDIAN_ASSIGN_OR_RETURN(handlers_, apimachinery::StartInformers(
                                           {&members_, &workloads_},
                                           [this] {
                                             if (!pending_.exchange(true)) loop_.MarkDirty();
                                           },
                                           kWho));
  started_ = true;
  loop_.Start();
  return Status::Ok();
}

void MemberSummaryController::Stop() {
  handlers_.clear();  // no more MarkDirty from the (possibly shared) informers
  loop_.Stop();
  informers_.StopOwn();
}

std::optional<std::chrono::milliseconds> MemberSummaryController::Pass() {
  const Timestamp now = clock_.Now();
  if (now < next_pass_) {
    // Too soon after the last pass: come back when the interval is over (pending_ stays set,
    // so the changes meanwhile do not wake the loop again).
    return std::max(std::chrono::ceil<std::chrono::milliseconds>(next_pass_ - now),
                    std::chrono::milliseconds(1));
  }
  pending_.store(false);
  size_t outdated = 0;
  StatusOr<int> written = ReconcileAll(&outdated);
  next_pass_ = clock_.Now() + options_.interval;
  if (!written.ok()) {
    spdlog::warn("{}: {}", kWho, written.status().ToString());
    return options_.interval;
  }
  // Members left over by the budget: the next pass, without waiting for a change.
  if (outdated > static_cast<size_t>(written.value())) return options_.interval;
  return std::nullopt;
}

StatusOr<int> MemberSummaryController::ReconcileAll(size_t* outdated) {
  if (!started_) {
    MERIDIAN_RETURN_IF_ERROR(members_.Relist());
    MERIDIAN_RETURN_IF_ERROR(workloads_.Relist());
  }
  // Shared pointers into the caches: a pass over 10,000 workloads copies none of them.
  const auto members = members_.cache().List();
  const SummaryPlan plan =
      PlanSummaryWrites(members, MemberWorkloadSummaries(workloads_.cache().List()),
                        options_.max_writes_per_pass, last_written_);
  if (outdated) *outdated = plan.outdated;
  int written = 0;
  for (const SummaryWrite& w : plan.writes) {
    auto it = std::find_if(members.begin(), members.end(),
                           [&](const auto& m) { return m->metadata.name == w.member; });
    StatusOr<bool> wrote = Write(**it, w.summary);
    last_written_ = w.member;
    if (!wrote.ok()) {
      // One member refusing its status (say, a webhook) must not hold up the others.
      spdlog::warn("{}: writing MemberCluster {} status: {}", kWho, w.member,
                   wrote.status().ToString());
    } else if (wrote.value()) {
      ++written;
    }
  }
  return written;
}

StatusOr<bool> MemberSummaryController::Write(api::MemberCluster current,
                                              const api::MemberWorkloadSummary& summary) {
  const apimachinery::ResourceInfo& info = api::MeridianResource(objects_, "memberclusters", kWho);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (current.status.workload_summary == summary) return false;
    api::MemberCluster updated = current;
    updated.status.workload_summary = summary;
    auto result = objects_.Update(info, "", current.metadata.name, api::Encode(updated), "status");
    if (result.ok()) {
      members_.Assume(result.value());  // the next pass starts from what was written
      return true;
    }
    if (result.error().code == 404) return false;  // deleted meanwhile
    if (result.error().code != 409) return result.error().ToStatus();
    // Another writer (the health monitor) got there first: re-read, keep its fields.
    auto fresh = objects_.Get(info, "", current.metadata.name);
    if (!fresh.ok()) {
      if (fresh.error().code == 404) return false;
      return fresh.error().ToStatus();
    }
    FieldErrors errors;
    current = api::DecodeMemberCluster(fresh.value(), &errors);
    if (!errors.empty()) return false;
  }
  return false;
}

}  // namespace meridian::scheduling
