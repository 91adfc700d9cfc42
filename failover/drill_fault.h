// Real faults for live drills with spec.injectFault: the seam (FaultInjector) and its
// membersim implementation, which calls membersim's admin API (membersim/README.md
// "Failure injection").
//
// How a member's membersim is found: the MemberCluster annotation
// `drills.meridian.io/membersim` (the admin root URL, e.g. http://127.0.0.1:18080, for a
// member on a dedicated membersim port), else derived from spec.server when it has
// membersim's shared-listener form http://HOST:PORT/clusters/NAME (root
// http://HOST:PORT, simulated cluster NAME). A member that fits neither cannot have a fault
// injected (FailedPrecondition naming the member): a drill never guesses at a real cluster.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/status.h"

namespace meridian::failover {

inline constexpr char kMembersimAnnotation[] = "drills.meridian.io/membersim";

// Where to reach a member's simulator.
struct MembersimAdmin {
  std::string root;     // "http://127.0.0.1:18080" (no trailing slash)
  std::string cluster;  // the simulated cluster's name
  friend bool operator==(const MembersimAdmin&, const MembersimAdmin&) = default;
};

// See the file comment. Errors: FailedPrecondition naming the member and what is missing.
StatusOr<MembersimAdmin> FindMembersimAdmin(const api::MemberCluster& member);

// One admin request: method POST, path under the root, JSON body ("" for none).
struct AdminRequest {
  std::string root;
  std::string path;
  std::string body;
  friend bool operator==(const AdminRequest&, const AdminRequest&) = default;
};

// The admin requests that inject (heal = false) or heal the target's fault: a zone fails in
// every member that has it; a cluster is partitioned (mode refuse, so probes fail at once);
// a region fails (zones failed, APIs partitioned with mode refuse) once per simulator.
// Errors: no member has the target (NotFound), or a touched member has no simulator.
StatusOr<std::vector<AdminRequest>> FaultRequests(const api::DrillTarget& target,
                                                  const std::vector<api::MemberCluster>& members,
                                                  bool heal);

// Injects and heals a drill's fault. Implementations must be thread-safe.
class FaultInjector {
 public:
  virtual ~FaultInjector() = default;
  // Makes the target fail for real. Idempotent: a fault already in place is success.
  virtual Status Inject(const api::DrillTarget& target,
                        const std::vector<api::MemberCluster>& members) = 0;
  // Ends the fault. Idempotent: nothing to heal is success.
  virtual Status Heal(const api::DrillTarget& target,
                      const std::vector<api::MemberCluster>& members) = 0;
};

// FaultInjector over membersim's admin API (cpprestsdk). A 409 (the fault is already in
// place, or already healed) counts as success; any other failure is returned with the URL.
class MembersimFaultInjector final : public FaultInjector {
 public:
  explicit MembersimFaultInjector(std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : timeout_(timeout) {}
  Status Inject(const api::DrillTarget& target,
                const std::vector<api::MemberCluster>& members) override;
  Status Heal(const api::DrillTarget& target,
              const std::vector<api::MemberCluster>& members) override;

 private:
  Status Send(const std::vector<AdminRequest>& requests);
  const std::chrono::milliseconds timeout_;
};

}  // namespace meridian::failover
