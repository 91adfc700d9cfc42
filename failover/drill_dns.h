// DNS answers during a live drill, pure core: which regions Meridian's global DNS sends the
// clients of each region to, how many answers point at the failed target, and how many
// queries went unanswered.
//
// What is sampled, and how: real DNS queries. Once per pass the drill controller plans one
// query per (served name, client region) from the snapshot the server answers from
// (PlanDnsProbes: the names it serves, its client-subnet table) and sends them through a
// DnsQueryTransport: in the federation-apiserver, UDP datagrams to the DNS server's own
// listen address (failover/drill_dns_udp.h), so an answer is what a client of that region
// gets from the server at that instant: parsing, the rate limiter, the worker threads and the
// socket included. A query without an answer within the transport's timeout is counted as
// lost in the sample and the report, never dropped silently. Unit tests use the in-process
// SnapshotDnsTransport (the server's own answer builder, dns::BuildResponse, over a snapshot),
// deterministic under a FakeClock. The snapshot also maps an answer's address back to its
// endpoint (and so to a region and a cluster).
//
// Client regions are the regions of the served client-subnet table (--dns-client-regions):
// each is asked as its first CIDR (EDNS client subnet), and "default" as a /0 subnet (the
// default region, or every answerable endpoint when there is none). Names are the followed
// workloads' spec.dns names that the snapshot serves.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/status.h"
#include "dns/records.h"
#include "dns/wire.h"

namespace meridian::failover {

// The DNS answers of one sample (the timeline's `dns`).
struct DnsAnswerSample {
  int64_t answers = 0;    // queries answered NOERROR: one per (client region, served name)
  int64_t to_failed = 0;  // of those, answers with an address on the failed target
  int64_t empty = 0;      // of those, answers without any address (NODATA): sent nowhere
  // Client region -> the regions its answers pointed at (sorted, unique).
  std::map<std::string, std::vector<std::string>> sent_to;
  // Queries sent that got no usable answer (timed out, a socket error, an unreadable or
  // truncated response): not among `answers`.
  int64_t lost = 0;
  // Where the answers came from (DnsQueryTransport::Describe); kept in the summary, not in
  // the timeline's samples.
  std::string source;
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
  // Queries sent and lost over the samples (a sample whose queries were all lost counts here
  // but not in `samples`).
  int64_t queries = 0;
  int64_t lost = 0;
  std::string source;  // the latest sample's
  friend bool operator==(const DnsAnswerSummary&, const DnsAnswerSummary&) = default;
};

// Whether `member` lies wholly inside the target: it is the cluster, it is in the region, or
// its only zones are the zone. Answers pointing at such a member point at the failed target
// (a member with one zone of several failed still serves through its load balancer).
bool MemberInsideTarget(const api::DrillTarget& target, const api::MemberCluster& member);

// The DNS names of `workloads` (spec.dns.name), sorted and unique.
std::vector<std::string> DnsNamesOf(const std::vector<api::FederatedWorkload>& workloads);

// One query of a sample: what a client of `client_region` asks for `name`.
struct DnsProbe {
  std::string name;           // as spec.dns wrote it
  std::string client_region;  // a region of the client-subnet table, or "default"
  dns::Message query;         // with the region's EDNS client subnet; id 0 (the transport's)
};

// The queries of one sample, pure: each of `names` the snapshot serves (others would be
// NXDOMAIN or REFUSED: nothing a client could be sent to) asked as each client region.
std::vector<DnsProbe> PlanDnsProbes(const dns::Snapshot& snapshot,
                                    const std::vector<std::string>& names);

// How a sample's queries reach a DNS server: the seam between the pure sampler and a socket.
class DnsQueryTransport {
 public:
  virtual ~DnsQueryTransport() = default;
  // Sends every query and returns one result per query, in order: its response (any rcode),
  // or why there is none (DeadlineExceeded: no answer within the timeout; Unavailable: a
  // socket error). Never throws. Called by one thread at a time.
  virtual std::vector<StatusOr<dns::Message>> Exchange(
      const std::vector<dns::Message>& queries) = 0;
  // Where the answers come from, for the report (e.g. "UDP queries to 127.0.0.1:5353").
  virtual std::string Describe() const = 0;
};

// In-process: the server's answer builder (dns::BuildResponse) over `snapshot`, as a worker
// would answer each packet; never loses a query. For unit tests, and for a process whose
// DNS server has no address to ask.
class SnapshotDnsTransport final : public DnsQueryTransport {
 public:
  explicit SnapshotDnsTransport(std::shared_ptr<const dns::Snapshot> snapshot)
      : snapshot_(std::move(snapshot)) {}
  std::vector<StatusOr<dns::Message>> Exchange(const std::vector<dns::Message>& queries) override;
  std::string Describe() const override;

 private:
  std::shared_ptr<const dns::Snapshot> snapshot_;
};

// What one pass asked: the snapshot the probes were planned from (what is served, and which
// endpoint an answered address belongs to), the probes, one result each, and the source.
struct DnsObservation {
  std::shared_ptr<const dns::Snapshot> snapshot;
  std::vector<DnsProbe> probes;
  std::vector<StatusOr<dns::Message>> results;  // results[i] answers probes[i]
  std::string source;
};

// Plans the probes of `names` on `snapshot` and sends them through `transport` (its I/O is
// the only I/O here). `snapshot` must not be null.
DnsObservation ObserveDns(std::shared_ptr<const dns::Snapshot> snapshot,
                          const std::vector<std::string>& names, DnsQueryTransport& transport);

// Classifies the answers to the probes of `names` (pure): an answer record is matched to the
// endpoint of its owner name with the same data, and so to that endpoint's region and
// cluster. NOERROR answers count in `answers`; NXDOMAIN / REFUSED (a name not served by the
// time it was asked) are left out; a probe without a usable response counts in `lost`.
DnsAnswerSample SampleDnsAnswers(const DnsObservation& observed,
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
