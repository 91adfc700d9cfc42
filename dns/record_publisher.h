// RecordSetPublisher: feeds the DNS server from the API. Watches DNSRecordSets, Topologies
// and MemberClusters through the ObjectService and, on every change, rebuilds the Snapshot
// (dns/served_zone.h: record sets + Topology RTTs + the configured zones and client CIDR ->
// region table, minus the endpoints of members whose Ready or Reachable is False) and
// publishes it to a SwappableRecordSource, so the very next query is answered from it.
// Changes arriving while a build runs are coalesced into one more build.
//
// The SOA serial of every zone is the store revision the build read (mod 2^32), so it grows
// whenever served data may have changed.
//
// Thread-safety: Start/Stop from one owner thread; PublishOnce is for tests and Start, and
// must not run concurrently with a started publisher's worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "apimachinery/change_loop.h"
#include "apimachinery/object_service.h"
#include "dns/record_source.h"
#include "dns/served_zone.h"

namespace meridian::dns {

class RecordSetPublisher {
 public:
  // `objects` and `source` must outlive the publisher. `config` must be valid
  // (ValidateServingConfig).
  RecordSetPublisher(apimachinery::ObjectService& objects, ServingConfig config,
                     SwappableRecordSource& source);
  ~RecordSetPublisher();  // Stop()s
  RecordSetPublisher(const RecordSetPublisher&) = delete;
  RecordSetPublisher& operator=(const RecordSetPublisher&) = delete;

  // Publishes once synchronously (so the server starts with the current records), then
  // starts the watches and the worker. Errors: listing or a watch failed, or the config is
  // invalid.
  Status Start();
  // Stops the watches and the worker. Idempotent.
  void Stop();

  // Lists DNSRecordSets and Topologies, builds and publishes. Record sets that cannot be
  // served are left out and logged (once per distinct set of problems). Errors: a list
  // failed or the config is invalid (nothing is published then).
  Status PublishOnce();

  // Publishes so far (successful builds).
  uint64_t publishes() const;

 private:
  // One pass of the worker: PublishOnce, retried after 1 s when it fails.
  std::optional<std::chrono::milliseconds> Pass();

  apimachinery::ObjectService& objects_;
  const ServingConfig config_;
  SwappableRecordSource& source_;
  std::vector<std::unique_ptr<apimachinery::Watch>> watches_;
  std::vector<std::string> last_problems_;  // touched only by PublishOnce

  mutable std::mutex mu_;  // guards publishes_
  uint64_t publishes_ = 0;
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::dns
