#include "cli/what_if.h"

#include <fmt/format.h>

#include <map>
#include <sstream>

#include "api/codec.h"

namespace meridian::cli {
namespace {

template <typename T>
Status ListInto(ResourceClient& client, const char* kind,
                T (*decode)(const nlohmann::json&, FieldErrors*), std::vector<T>* out) {
  const KindInfo* info = ResolveType(kind);
  if (info == nullptr) return InternalError(std::string("fedctl does not know ") + kind);
  auto list = client.List(*info, "", "");
  if (!list.ok()) {
    return UnavailableError(std::string("listing ") + info->plural + ": " + list.error().message);
  }
  const nlohmann::json& items = list.value().contains("items") ? list.value()["items"]
                                                                 : nlohmann::json::array();
  for (const nlohmann::json& item : items) {
    FieldErrors errors;
    T decoded = decode(item, &errors);
    if (!errors.empty()) {
      std::string name = item.contains("metadata") ? item["metadata"].value("name", "") : "";
      return InvalidArgumentError(std::string(kind) + " " + name + ": " +
                                  errors.front().ToString());
    }
    out->push_back(std::move(decoded));
  }
  return Status::Ok();
}

std::string Signed(int64_t d) { return d > 0 ? "+" + std::to_string(d) : std::to_string(d); }

// "eu-west-1a=3 eu-west-1b=3" (or "none").
std::string ZoneList(const std::map<std::string, int64_t>& zones) {
  std::string out;
  for (const auto& [zone, n] : zones)
    out += (out.empty() ? "" : " ") + zone + "=" + std::to_string(n);
  return out.empty() ? "none" : out;
}

}  // namespace

StatusOr<scheduling::PlacementInputs> ReadPlacementInputs(ResourceClient& client) {
  scheduling::PlacementInputs in;
  MERIDIAN_RETURN_IF_ERROR(ListInto(client, "memberclusters", api::DecodeMemberCluster, &in.members));
  MERIDIAN_RETURN_IF_ERROR(ListInto(client, "topologies", api::DecodeTopology, &in.topologies));
  MERIDIAN_RETURN_IF_ERROR(
      ListInto(client, "residencypolicies", api::DecodeResidencyPolicy, &in.policies));
  MERIDIAN_RETURN_IF_ERROR(
      ListInto(client, "federatedworkloads", api::DecodeFederatedWorkload, &in.workloads));
  MERIDIAN_RETURN_IF_ERROR(ListInto(client, "failoverdrills", api::DecodeFailoverDrill, &in.drills));
  return in;
}

std::string FormatWhatIf(const std::vector<api::DrillTarget>& failures,
                         const scheduling::WhatIfAnswer& answer) {
  std::ostringstream out;
  std::string what;
  for (const api::DrillTarget& t : failures) {
    what += (what.empty() ? "" : ", ") + scheduling::FailureTargetString(t);
  }
  out << "What if " << what << " failed? (computed from the federation's current state; "
      << "nothing was changed)\n";
  for (const scheduling::WhatIfWorkload& w : answer.affected) {
    out << "\n"
        << w.ns << "/" << w.name << ": " << w.desired << " replicas, " << w.on_target
        << " on the failed target\n";
    out << fmt::format("  {:<24} {:<14} {:>6} {:>6} {:>6}\n", "CLUSTER", "REGION", "BEFORE",
                       "AFTER", "CHANGE");
    std::map<std::string, std::pair<int64_t, int64_t>> regions;
    std::vector<std::string> region_order;
    for (const scheduling::WhatIfCluster& c : w.clusters) {
      out << fmt::format("  {:<24} {:<14} {:>6} {:>6} {:>6}\n", c.cluster, c.region, c.before,
                         c.after, c.after == c.before ? "" : Signed(c.after - c.before));
      if (!regions.count(c.region)) region_order.push_back(c.region);
      regions[c.region].first += c.before;
      regions[c.region].second += c.after;
    }
    out << fmt::format("  {:<24} {:>6} {:>6} {:>6}\n", "REGION", "BEFORE", "AFTER", "CHANGE");
    for (const std::string& r : region_order) {
      auto [before, after] = regions[r];
      out << fmt::format("  {:<24} {:>6} {:>6} {:>6}\n", r, before, after,
                         after == before ? "" : Signed(after - before));
    }
    for (const scheduling::WhatIfCluster& c : w.clusters) {
      if (c.before != c.after && !c.reason_after.empty()) out << "  why: " << c.reason_after << "\n";
    }
    // Zone hints that change: a failed zone's replicas moving to the cluster's other zones
    // change no cluster count above.
    for (const scheduling::WhatIfCluster& c : w.clusters) {
      if (c.zones_before == c.zones_after) continue;
      out << "  zones of " << c.cluster << ": " << ZoneList(c.zones_before) << " -> "
          << ZoneList(c.zones_after) << "\n";
    }
    if (w.unplaced_after > 0) {
      out << "  blocks full recovery: " << w.blocked_by << "\n";
    } else {
      out << "  all " << w.desired << " replicas placed after the failure"
          << (w.unplaced_before > 0 ? " (" + std::to_string(w.unplaced_before) +
                                          " were unplaced before)"
                                    : "")
          << "\n";
    }
  }
  out << "\n"
      << answer.affected.size() << (answer.affected.size() == 1 ? " workload" : " workloads")
      << " affected, " << answer.unaffected << " unaffected.\n";
  return out.str();
}

int RunWhatIf(ResourceClient& client, const std::vector<std::string>& fail_args, Timestamp now,
              std::ostream& out, std::ostream& err) {
  if (fail_args.empty()) {
    err << "error: what-if needs at least one --fail zone=NAME|region=NAME|cluster=NAME\n";
    return 2;
  }
  std::vector<api::DrillTarget> failures;
  for (const std::string& arg : fail_args) {
    StatusOr<api::DrillTarget> t = scheduling::ParseFailureTarget(arg);
    if (!t.ok()) {
      err << "error: --fail " << t.status().message() << "\n";
      return 2;
    }
    failures.push_back(*t);
  }
  StatusOr<scheduling::PlacementInputs> inputs = ReadPlacementInputs(client);
  if (!inputs.ok()) {
    err << "error: " << inputs.status().message() << "\n";
    return 1;
  }
  StatusOr<scheduling::WhatIfAnswer> answer = scheduling::WhatIf(*inputs, failures, now);
  if (!answer.ok()) {
    err << "error: " << answer.status().message() << "\n";
    return 1;
  }
  if (!answer->unmatched.empty()) {
    for (const std::string& u : answer->unmatched) err << "error: --fail " << u << "\n";
    return 2;
  }
  out << FormatWhatIf(failures, *answer);
  return 0;
}

}  // namespace meridian::cli
