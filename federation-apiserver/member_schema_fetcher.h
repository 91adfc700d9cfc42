// MemberSchemaFetcher: the `member-schemas` controller, which keeps MemberSchemas
// (federation-apiserver/member_schemas.h, where the refresh rule is written) current for every
// MemberCluster: a pass on every MemberCluster change (a join), every `check_every`, and when
// admission asks (a kind no member serves). Only a due member (SchemaFetchDue) is sent a
// request: GET /openapi/v2, and the client's cached discovery for its version.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "apimachinery/change_loop.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "federation-apiserver/member_schemas.h"
#include "sync/member_client_factory.h"

namespace meridian::apiserver {

class MemberSchemaFetcher {
 public:
  struct Options {
    SchemaFetchTimes times;
    // How often a pass looks whether something is due (cheap: no member request unless due).
    std::chrono::milliseconds check_every{5000};
  };
  // `objects`, `clock` and `schemas` must outlive the fetcher.
  MemberSchemaFetcher(apimachinery::ObjectService& objects, const Clock& clock,
                      sync::MemberClientFactory factory, MemberSchemas& schemas, Options options);
  ~MemberSchemaFetcher();
  // Watches MemberClusters, becomes `schemas`' refresh requester and starts the loop (its
  // first pass at once). kUnavailable when the watch cannot start.
  Status Start();
  // Stops the loop and the watch; idempotent.
  void Stop();
  // One pass on the caller's thread (tests): fetches what is due. Returns the members fetched.
  std::vector<std::string> PassOnce(bool forced);

 private:
  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  MemberSchemas& schemas_;
  Options options_;
  std::mutex mu_;  // guards clients_, failures_ (a pass from the loop or a test's PassOnce)
  sync::MemberClientCache clients_;
  std::map<std::string, Timestamp> failures_;
  std::atomic<bool> forced_{false};  // admission asked; never waits for a pass
  std::vector<std::unique_ptr<apimachinery::Watch>> watches_;
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::apiserver
