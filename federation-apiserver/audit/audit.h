// The audit stage of the request pipeline: kube-apiserver's audit log.
//
//   Policy      an audit.k8s.io/v1 Policy file (--audit-policy-file): rules, first match wins,
//               each giving a level None | Metadata | Request | RequestResponse for requests
//               matching its users, userGroups, verbs, resources ({group, resources,
//               resourceNames}), namespaces and nonResourceURLs. No rule matching: None.
//               Without a policy file every request is logged at Metadata.
//   AuditLog    audit.k8s.io/v1 Event JSON lines appended to --audit-log-path, rotated when
//               the file would pass --audit-log-maxsize MB (the old file is renamed
//               PATH.<UTC time>, and only --audit-log-maxbackup of those are kept).
//   Observer()  the RestHandler observer that writes one event per request at stage
//               ResponseComplete; a watch gets RequestReceived when it starts and
//               ResponseComplete when its stream ends.
//
// Secrets are never logged above Metadata (their bodies hold credentials), whatever the
// policy says. Request bodies (level Request) and responses (RequestResponse) are included
// only when they are JSON.
//
// Thread-safety: Policy is immutable; AuditLog::Write and the observer are thread-safe
// (one mutex serializes writes and rotation). Timestamps come from the injected Clock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "apimachinery/rest/rest_handler.h"
#include "common/clock.h"
#include "common/status.h"
#include "federation-apiserver/rbac/policy.h"

namespace meridian::apiserver::audit {

enum class Level { kNone, kMetadata, kRequest, kRequestResponse };
const char* LevelName(Level level);  // "None", "Metadata", ...

struct GroupResources {
  std::string group;
  std::vector<std::string> resources;  // "" list = all; "pods/status" names a subresource
  std::vector<std::string> resource_names;
};

struct PolicyRule {
  Level level = Level::kNone;
  std::vector<std::string> users;
  std::vector<std::string> user_groups;
  std::vector<std::string> verbs;
  std::vector<GroupResources> resources;
  std::vector<std::string> namespaces;
  std::vector<std::string> non_resource_urls;
  std::vector<std::string> omit_stages;
};

struct Policy {
  std::vector<PolicyRule> rules;
  std::vector<std::string> omit_stages;
};

// Parses a Policy (YAML or JSON). Errors are kInvalidArgument "SOURCE: FIELD: problem"
// (an unknown field, an unknown level or stage, a wrong kind/apiVersion), so a typo stops
// startup instead of silently logging less.
StatusOr<Policy> ParsePolicy(const std::string& text, const std::string& source);

// The policy used without a file: everything at Metadata.
Policy MetadataPolicy();

// The level for a request (first matching rule; None when none matches), capped at
// Metadata for Secrets. `stages` receives the rule's and the policy's omitStages. Pure.
Level LevelFor(const Policy& policy, const rbac::Attributes& attrs,
               std::vector<std::string>* omit_stages = nullptr);

struct AuditLogOptions {
  std::string path;           // required
  int64_t max_size_mb = 100;  // 0: never rotate
  int max_backups = 10;       // rotated files kept (oldest removed first); 0 keeps all
  // kube-apiserver's --audit-log-mode. Blocking (the default, as in Kubernetes): Write
  // returns once the line is in the file. Batch: Write queues the line and a writer thread
  // appends queued lines together, so a write() the kernel stalls (dirty-page throttling on
  // a busy disk) delays the log instead of every request; Write waits only while
  // `batch_buffer_events` lines are queued (nothing is ever dropped).
  bool batch = false;
  size_t batch_buffer_events = 10000;
};

class AuditLog {
 public:
  // Opens (appends to) the file, created 0600. Errors: kInvalidArgument naming
  // --audit-log-path when it cannot be opened.
  static StatusOr<std::unique_ptr<AuditLog>> Open(const AuditLogOptions& options,
                                                  const Clock& clock);
  // Appends one line (batch mode: queues it). A failing write is logged (spdlog) and
  // dropped: the audit log never fails a request. Thread-safe.
  void Write(const nlohmann::json& event);
  // Batch mode: returns once every line queued before the call is in the file. Blocking
  // mode: returns at once. Thread-safe.
  void Flush();
  // Writes what is queued, then closes the file.
  ~AuditLog();

 private:
  AuditLog(AuditLogOptions options, const Clock& clock)
      : options_(std::move(options)), clock_(clock) {}
  // Appends `lines` (rotating first when the file would pass the limit). Requires mu_
  // (blocking mode) or being the writer thread (batch mode).
  void AppendLocked(const std::string& lines);
  void RotateLocked();
  void WriterLoop();

  const AuditLogOptions options_;
  const Clock& clock_;
  std::mutex mu_;  // blocking mode: guards out_ and size_; batch mode: queue_ and the flags
  std::ofstream out_;
  int64_t size_ = 0;
  // Batch mode only.
  std::condition_variable queued_;   // lines were queued, or stopping_
  std::condition_variable written_;  // the writer took or wrote lines
  std::vector<std::string> queue_;
  uint64_t queued_total_ = 0, written_total_ = 0;
  bool stopping_ = false;
  std::thread writer_;
};

// The RestHandler observer writing `log`'s events under `policy`. Both must outlive every
// request the handler serves.
apimachinery::rest::RestObserver Observer(const Policy& policy, AuditLog& log, const Clock& clock);

}  // namespace meridian::apiserver::audit
