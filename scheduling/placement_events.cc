#include "scheduling/placement_events.h"

#include <map>
#include <optional>
#include <set>

#include "api/conditions.h"
#include "api/explanation.h"
#include "placement/engine.h"

namespace meridian::scheduling {
namespace {

using Counts = std::map<std::string, int64_t>;  // cluster -> replicas (sorted: stable messages)

// A message lists at most this many clusters; a fleet-wide rebalance says how many more.
constexpr size_t kMaxListedClusters = 10;

Counts CountsOf(const std::vector<api::ClusterPlacement>& lines) {
  Counts counts;
  for (const api::ClusterPlacement& line : lines) {
    if (line.replicas > 0) counts[line.cluster] += line.replicas;
  }
  return counts;
}

int64_t Get(const Counts& counts, const std::string& cluster) {
  auto it = counts.find(cluster);
  return it == counts.end() ? 0 : it->second;
}

int64_t Total(const Counts& counts) {
  int64_t total = 0;
  for (const auto& [cluster, n] : counts) total += n;
  return total;
}

// A cluster that could not hold replicas for a reason that ends by itself.
bool WasDown(const std::optional<api::ClusterDecision>& d) {
  return d.has_value() &&
         (d->reason == "Unreachable" || d->reason == "ZoneFailure" || d->reason == "RecoveryHold");
}

// Joins up to kMaxListedClusters items, then "and N more".
std::string JoinBounded(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < kMaxListedClusters; ++i) {
    out += (i == 0 ? "" : ", ") + items[i];
  }
  if (items.size() > kMaxListedClusters) {
    out += " and " + std::to_string(items.size() - kMaxListedClusters) + " more";
  }
  return out;
}

// "eu-west-1 6->0, eu-central-1 6->12" for every cluster whose count changed.
std::string Moves(const Counts& before, const Counts& after) {
  std::set<std::string> clusters;
  for (const auto& [c, n] : before) clusters.insert(c);
  for (const auto& [c, n] : after) clusters.insert(c);
  std::vector<std::string> moves;
  for (const std::string& c : clusters) {
    const int64_t from = Get(before, c), to = Get(after, c);
    if (from != to) moves.push_back(c + " " + std::to_string(from) + "->" + std::to_string(to));
  }
  return JoinBounded(moves);
}

// What the decision says of a cluster that lost replicas: its sentence, else its reason name;
// "" when the explanation does not cover it (bounded, or not built). A cluster that a complete
// explanation does not list and that holds nothing has left the fleet.
std::string Said(const std::string& cluster, int64_t now_holds,
                 const std::optional<api::ClusterDecision>& d,
                 const api::PlacementExplanation& explanation) {
  if (d) return cluster + ": " + (d->message.empty() ? d->reason : d->message);
  if (now_holds == 0 && explanation.omitted == 0 &&
      !(explanation.clusters.empty() && explanation.not_placed.empty())) {
    return cluster + ": no longer in the fleet";
  }
  return "";
}

}  // namespace

std::vector<PlacementEvent> PlacementEvents(const api::FederatedWorkloadStatus& before,
                                            const api::FederatedWorkloadStatus& after) {
  using apimachinery::EventType;
  std::vector<PlacementEvent> events;
  const Counts was = CountsOf(before.placement), now = CountsOf(after.placement);

  if (was != now) {
    if (was.empty()) {
      std::vector<std::string> lines;
      for (const auto& [c, n] : now) lines.push_back(c + " " + std::to_string(n));
      events.push_back({EventType::kNormal, "Placed",
                        "placed " + placement::Count(Total(now), "replica") + " on " +
                            placement::Count(static_cast<int64_t>(now.size()), "cluster") + ": " +
                            JoinBounded(lines)});
    } else {
      std::vector<std::string> returned, overflowed, causes;
      std::set<std::string> clusters;
      for (const auto& [c, n] : was) clusters.insert(c);
      for (const auto& [c, n] : now) clusters.insert(c);
      for (const std::string& c : clusters) {
        const int64_t from = Get(was, c), to = Get(now, c);
        const std::optional<api::ClusterDecision> decided = api::DecisionFor(after, c);
        if (to > from) {
          const std::optional<api::ClusterDecision> earlier =
              api::DecisionFor(before, c);
          if (WasDown(earlier)) {
            returned.push_back(c + " is back (was " + earlier->reason + ")");
          } else if (decided && decided->reason == "Overflow") {
            overflowed.push_back(c);
          }
        } else if (to < from) {
          std::string said = Said(c, to, decided, after.explanation);
          if (!said.empty()) causes.push_back(std::move(said));
        }
      }
      if (after.desired_replicas != before.desired_replicas && before.desired_replicas > 0) {
        causes.insert(causes.begin(), "desired replicas " +
                                          std::to_string(before.desired_replicas) + "->" +
                                          std::to_string(after.desired_replicas));
      }
      const std::string moves = Moves(was, now);
      if (!returned.empty()) {
        events.push_back({EventType::kNormal, "Returned", moves + ": " + JoinBounded(returned)});
      } else if (!overflowed.empty()) {
        events.push_back({EventType::kNormal, "Overflowed",
                          moves + ": overflow to " + JoinBounded(overflowed) +
                              (causes.empty() ? "" : " because " + JoinBounded(causes))});
      } else {
        events.push_back({EventType::kNormal, "Rescheduled",
                          moves + (causes.empty() ? "" : ": " + JoinBounded(causes))});
      }
    }
  }

  const Counts kept_before = CountsOf(before.retained), kept_now = CountsOf(after.retained);
  std::vector<std::string> newly_retained;
  for (const auto& [c, n] : kept_now) {
    if (n > Get(kept_before, c)) {
      newly_retained.push_back(c + " (" + placement::Count(n, "replica") + ")");
    }
  }
  if (!newly_retained.empty()) {
    events.push_back({EventType::kWarning, "Retained",
                      "left running where Meridian cannot see them, replaced elsewhere: " +
                          JoinBounded(newly_retained)});
  }

  if (after.unplaced_replicas > before.unplaced_replicas) {
    const api::Condition* degraded = api::FindCondition(after.conditions, "Degraded");
    std::string message = std::to_string(after.unplaced_replicas) + " of " +
                          std::to_string(after.desired_replicas) + " replicas cannot be placed";
    if (degraded != nullptr && degraded->status == "True" && !degraded->message.empty()) {
      message = degraded->message;
    }
    events.push_back({EventType::kWarning, "FailedPlacement", message});
  }
  return events;
}

}  // namespace meridian::scheduling
