// `fedctl dns records [NAME]`: what Meridian's DNS serves, from the DNSRecordSets (the objects
// the DNS server answers from): per DNS name and type, its strategy and TTL, and per endpoint
// the region, cluster, targets, weight (ready replicas), failover priority, jurisdiction,
// whether it is answered (healthy) and, when not, why.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "api/types.h"
#include "cli/client.h"

namespace meridian::cli {

// Whether `record_set` has an endpoint named `filter` (a DNS name, any case, trailing dot
// optional) or is itself named `filter`. An empty filter matches everything.
bool DnsRecordSetMatches(const api::DnsRecordSet& record_set, const std::string& filter);

// The table rows (header first) for `record_sets`, one row per endpoint, ordered by DNS name,
// type, then cluster. Columns: NAME TYPE STRATEGY TTL REGION CLUSTER TARGETS WEIGHT PRIORITY
// JURISDICTION HEALTHY REASON RECORDSET. PRIORITY is "-" unless the strategy is failover;
// an endpoint outside the record set's allowed jurisdictions shows HEALTHY "no" and reason
// "outside residency" (the server never answers it).
std::vector<std::vector<std::string>> DnsRecordRows(
    const std::vector<api::DnsRecordSet>& record_sets);

// Lists DNSRecordSets in `ns` ("" = every namespace), prints the rows of those matching
// `filter` to `out`. Returns the exit code: 0; 1 when the list failed or `filter` matched
// nothing (message on `err`).
int RunDnsRecords(ResourceClient& client, const std::string& ns, const std::string& filter,
                  std::ostream& out, std::ostream& err);

}  // namespace meridian::cli
