// DNS answers during a live drill, pure core: which regions Meridian's global DNS sends the
// clients of each region to, and how many answers point at the failed target.
//
// What is sampled, and why this way: the federation-apiserver's DNS server answers from one
// immutable Snapshot (dns/record_source.h) that the record publisher swaps on every change.
// The drill controller runs in the same process, so it takes that very snapshot and asks the
// server's own answer builder (dns::BuildResponse, what every server worker runs per packet)
// a real DNS query per (client region, name): the answer is exactly what a client of that
// region would get at that instant, without a socket, a port or the rate limiter counting the
// drill's probes as a client, and deterministic under a FakeClock. What it does not show is
// the network path to the server (not what a drill rehearses).
//
// Client regions are the regions of the served client-subnet table (--dns-client-regions):
// each is asked as its first CIDR (EDNS client subnet), and "default" as a /0 subnet (the
// default region, or every answerable endpoint when there is none). Names are the followed
// workloads' spec.dns names that the snapshot serves.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/status.h"
#include "dns/records.h"

namespace meridian::failover {

// The DNS answers of one sample (the timeline's `dns`).
struct DnsAnswerSample {
  int64_t answers = 0;    // queries answered NOERROR: one per (client region, served name)
  int64_t to_failed = 0;  // of those, answers with an address on the failed target
  int64_t empty = 0;      // of those, answers without any address (NODATA): sent nowhere
  // Client region -> the regions its answers pointed at (sorted, unique).
  std::map<std::string, std::vector<std::string>> sent_to;
  // The percentage of answers pointing at the failed target, rounded up (a single such
  // answer never reads as 0 %); 0 when nothing was answered.
  int64_t PercentToFailed() const {
    return answers > 0 ? (to_failed * 100 + answers - 1) / answers : 0;
  }
  friend bool operator==(const DnsAnswerSample&, const DnsAnswerSample&) = default;
};

// The drill's summary of its DNS samples (report.dns), over the samples taken while the
// target was failed (before the restore).
struct DnsAnswerSummary {
  std::vector<std::string> names;  // the names asked, as of the latest sample
  int64_t samples = 0;
  // PercentToFailed -> how many samples had it (exact percentiles in a few integers).
  std::map<int64_t, int64_t> percent_histogram;
  std::optional<int64_t> max_percent;  // the highest PercentToFailed, first reached at max_at_ms
  int64_t max_at_ms = 0;
  std::optional<int64_t> last_to_failed_ms;  // the latest sample with an answer to the target
  // Client region -> region answered -> answers over the failure.
  std::map<std::string, std::map<std::string, int64_t>> sent_to;
  friend bool operator==(const DnsAnswerSummary&, const DnsAnswerSummary&) = default;
};

// Whether `member` lies wholly inside the target: it is the cluster, it is in the region, or
// its only zones are the zone. Answers pointing at such a member point at the failed target
// (a member with one zone of several failed still serves through its load balancer).
bool MemberInsideTarget(const api::DrillTarget& target, const api::MemberCluster& member);

// The DNS names of `workloads` (spec.dns.name), sorted and unique.
std::vector<std::string> DnsNamesOf(const std::vector<api::FederatedWorkload>& workloads);

// Asks `snapshot` for each of `names` as the client of each client region (see above) and
// classifies the answers: an answer record is matched to the endpoint of its owner name
// with the same data, and so to that endpoint's region and cluster. Names the snapshot does
// not serve (NXDOMAIN, REFUSED) are left out.
DnsAnswerSample SampleDnsAnswers(const dns::Snapshot& snapshot,
                                 const std::vector<std::string>& names,
                                 const api::DrillTarget& target,
                                 const std::vector<api::MemberCluster>& members);

// Folds a sample taken while the target was failed into the summary at `at_ms`.
void AddDnsSample(DnsAnswerSummary* summary, const DnsAnswerSample& sample, int64_t at_ms);

// The nearest-rank percentile `p` of the samples' PercentToFailed; nullopt without samples.
std::optional<int64_t> DnsPercentile(const DnsAnswerSummary& summary, int p);

// Whether abortConditions.dnsAnswersToFailedRegionPercent fires: more than `percent` of the
// sample's answers point at the failed target (to_failed * 100 > percent * answers).
bool DnsAbortFires(const DnsAnswerSample& sample, std::optional<int32_t> percent);

// JSON forms (the timeline's `dns`, report.dns with p50/p95 derived). The readers name the
// field (under `path`) that is wrong.
nlohmann::json DnsSampleToJson(const DnsAnswerSample& sample);
StatusOr<DnsAnswerSample> DnsSampleFromJson(const nlohmann::json& j, const std::string& path);
nlohmann::json DnsSummaryToJson(const DnsAnswerSummary& summary);
StatusOr<DnsAnswerSummary> DnsSummaryFromJson(const nlohmann::json& j, const std::string& path);

}  // namespace meridian::failover
