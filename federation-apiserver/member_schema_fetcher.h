// MemberSchemaFetcher: the `member-schemas` controller, which keeps MemberSchemas
// (federation-apiserver/member_schemas.h, where the refresh rule is written) current for every
// MemberCluster (read from the process's shared informer): a pass on every MemberCluster
// change (a join), every `check_every`, and when
// admission asks (a kind no member serves). Only a due member (SchemaFetchDue) is sent a
// request: GET /openapi/v2, and the client's cached discovery for its version.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/types.h"
#include "apimachinery/change_loop.h"
#include "apimachinery/informer.h"
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
  // `objects`, `clock` and `schemas` must outlive the fetcher, and so must `informers` (the
  // process's shared informers over `objects`) when given; without, it has its own.
  MemberSchemaFetcher(apimachinery::ObjectService& objects, const Clock& clock,
                      sync::MemberClientFactory factory, MemberSchemas& schemas, Options options,
                      apimachinery::SharedInformerFactory* informers = nullptr);
  ~MemberSchemaFetcher();
  // Starts the MemberCluster informer (one LIST unless already started), becomes `schemas`'
  // refresh requester and starts the loop (its first pass at once). kUnavailable when the
  // informer cannot start.
  Status Start();
  // Stops the loop and the watch; idempotent.
  void Stop();
  // One pass on the caller's thread (tests): fetches what is due. The members come from the
  // informer's cache (listed first when the fetcher is not started). Returns the members
  // fetched.
  std::vector<std::string> PassOnce(bool forced);

 private:
  const Clock& clock_;
  MemberSchemas& schemas_;
  Options options_;
  std::mutex mu_;  // guards clients_, failures_ (a pass from the loop or a test's PassOnce)
  sync::MemberClientCache clients_;
  std::map<std::string, Timestamp> failures_;
  std::atomic<bool> forced_{false};  // admission asked; never waits for a pass
  apimachinery::ControllerInformers informers_;
  apimachinery::SharedInformer<api::MemberCluster>& members_;
  std::vector<apimachinery::InformerRegistration> handlers_;  // mark the loop dirty
  std::atomic<bool> started_{false};  // a test's PassOnce may run beside the loop
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::apiserver
