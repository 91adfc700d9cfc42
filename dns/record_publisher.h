// RecordSetPublisher: feeds the DNS server from the API. Reads DNSRecordSets, Topologies
// and MemberClusters from the process's shared informers (apimachinery/informer.h) and, on every
// change, rebuilds the Snapshot (dns/served_zone.h: record sets + Topology RTTs + the configured
// zones and client CIDR -> region table, minus the endpoints of members whose Ready or Reachable is
// False) and publishes it to a SwappableRecordSource, so the very next query is answered from it.
// Changes arriving while a build runs are coalesced into one more build.
//
// The SOA serial of every zone is the newest store revision the three caches have seen
// (mod 2^32), so it grows whenever served data may have changed.
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

#include "api/types.h"
#include "apimachinery/change_loop.h"
#include "apimachinery/informer.h"
#include "apimachinery/object_service.h"
#include "dns/record_source.h"
#include "dns/served_zone.h"

namespace meridian::dns {

class RecordSetPublisher {
 public:
  // `objects` and `source` must outlive the publisher, and so must `informers` (the
  // process's shared informers over `objects`) when given; without, it has its own.
  // `config` must be valid (ValidateServingConfig).
  RecordSetPublisher(apimachinery::ObjectService& objects, ServingConfig config,
                     SwappableRecordSource& source,
                     apimachinery::SharedInformerFactory* informers = nullptr);
  ~RecordSetPublisher();  // Stop()s
  RecordSetPublisher(const RecordSetPublisher&) = delete;
  RecordSetPublisher& operator=(const RecordSetPublisher&) = delete;

  // Starts the informers (one LIST each unless already started), publishes once
  // synchronously (so the server starts with the current records), then starts the worker.
  // Errors: an informer could not start, or the config is invalid.
  Status Start();
  // Stops the watches and the worker. Idempotent.
  void Stop();

  // Reads DNSRecordSets, Topologies and MemberClusters from the informers' caches (listed
  // first when the publisher is not started), builds and publishes. Record sets that cannot
  // be served are left out and logged (once per distinct set of problems). Errors: a list
  // failed or the config is invalid (nothing is published then).
  Status PublishOnce();

  // Publishes so far (successful builds).
  uint64_t publishes() const;

 private:
  // One pass of the worker: PublishOnce, retried after 1 s when it fails.
  std::optional<std::chrono::milliseconds> Pass();

  const ServingConfig config_;
  SwappableRecordSource& source_;
  apimachinery::ControllerInformers informers_;
  apimachinery::SharedInformer<api::DnsRecordSet>& record_sets_;
  apimachinery::SharedInformer<api::Topology>& topologies_;
  apimachinery::SharedInformer<api::MemberCluster>& members_;
  std::vector<apimachinery::InformerRegistration> handlers_;  // mark the loop dirty
  bool started_ = false;                                      // set before the worker starts
  std::vector<std::string> last_problems_;                    // touched only by PublishOnce

  mutable std::mutex mu_;  // guards publishes_
  uint64_t publishes_ = 0;
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::dns
