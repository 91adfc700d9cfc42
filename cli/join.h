// `fedctl join` and `fedctl unjoin`: adding a member cluster to the federation and taking it
// out again. The command files (cmd_join.cc) only parse flags; everything here is testable
// with a fake federation (ResourceClient) and a fake member (sync::MemberClient).
//
// Join, in order (nothing is stored unless every step before the writes succeeds):
//   1. the flags become a MemberEndpoint (token file, or kubeconfig + context; CA file,
//      insecure flag); errors name the flag or file;
//   2. an existing MemberCluster of that name stops the join (409 AlreadyExists) unless
//      --overwrite;
//   3. the member is asked, with those credentials, for its version and discovery and for a
//      namespaced list (Deployments in "default"): an unreachable member is reported with
//      its URL and the transport error, a 401/403 as "member refused the credentials";
//   4. the credentials are stored as the Secret `<name>-credentials-<hash>` in
//      meridian-system, in the format sync/member_client_factory.h reads (data: token,
//      ca.crt, tls.crt, tls.key), then the MemberCluster is created (or, with --overwrite,
//      updated) pointing at it. The name carries a hash of the content because the
//      controllers remake a member's client when credentialsRef changes: new credentials
//      get a new name, and the Secret an overwritten member used before is deleted. If the
//      MemberCluster cannot be written, a Secret this join created is deleted again.
//
// Unjoin: reads the MemberCluster and its Secret; with cleanup, checks the member answers
// (else stops, changing nothing), deletes the MemberCluster, waits until no workload's
// status places or reports the member any more (the controllers have let go of it, so none
// re-creates what cleanup deletes), deletes from the member every object labelled
// federation.meridian.io/managed-by=meridian that no other object owns (every served
// resource that supports list and delete, all namespaces; one line per object; passes
// repeat until one finds nothing), then deletes the Secret.
//
// Thread-safety: none needed (one command per process).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/client.h"
#include "common/clock.h"
#include "common/status.h"
#include "sync/member_client.h"

namespace meridian::cli {

inline constexpr char kMemberCredentialsNamespace[] = "meridian-system";
// Set on the Secrets join writes, so an operator can tell them apart.
inline constexpr char kMemberClusterLabel[] = "federation.meridian.io/member-cluster";

struct JoinRequest {
  std::string name;
  // Either a URL with a token file (optionally a CA file / insecure), or a kubeconfig.
  std::string member_url;
  std::string token_file;
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  std::string kubeconfig;
  std::string context;  // "" = the kubeconfig's current-context
  std::string region;
  std::vector<std::string> zones;
  std::string jurisdiction;
  std::map<std::string, std::string> labels;
  std::optional<int64_t> capacity_replicas;
  bool overwrite = false;
  std::chrono::milliseconds member_timeout{10'000};
};

// Parses repeated "k=v" label flags. kInvalidArgument naming the bad entry.
StatusOr<std::map<std::string, std::string>> ParseLabelFlags(const std::vector<std::string>& flags);

// Step 1: the endpoint to check and store. kInvalidArgument / kNotFound naming the flag or
// the file (unreadable token file, empty token, kubeconfig errors).
StatusOr<sync::MemberEndpoint> JoinEndpoint(const JoinRequest& request);

// Step 3: asks the member for its version/discovery and a namespaced list. On success the
// member's Kubernetes version ("v1.32.0"). Errors, message ready to print:
//   kUnavailable:      cannot reach member "x" at URL: <transport error>
//   kUnauthenticated / kPermissionDenied: member "x" at URL refused the credentials (...)
//   others:            member "x" at URL: <what failed>
StatusOr<std::string> CheckMember(sync::MemberClient& member, const std::string& server);

// The objects join stores (pure).
nlohmann::json CredentialsSecret(const std::string& member_name,
                                 const sync::MemberCredentials& credentials);
nlohmann::json MemberClusterObject(const JoinRequest& request, const std::string& server,
                                   const std::string& secret_name, bool insecure_skip_tls_verify);

// Makes the client for an endpoint (tests hand in fakes). Null result = error printed by the
// caller from the Status.
using MemberClientMaker =
    std::function<StatusOr<std::shared_ptr<sync::MemberClient>>(const sync::MemberEndpoint&)>;

// The production maker: an HttpMemberClient.
MemberClientMaker HttpMemberClientMaker();

// Join end to end; returns the exit code (0 joined, 1 failed). Progress and the result go
// to `out`, errors to `err`.
int RunJoin(ResourceClient& federation, const JoinRequest& request,
            const MemberClientMaker& make_member, std::ostream& out, std::ostream& err);

// The credentials a stored Secret holds (data: token, ca.crt, tls.crt, tls.key; base64).
// kInvalidArgument naming the key that is not base64.
StatusOr<sync::MemberCredentials> CredentialsFromSecret(const nlohmann::json& secret);

struct UnjoinRequest {
  std::string name;
  bool cleanup = false;
  std::chrono::milliseconds member_timeout{10'000};
  // --cleanup waits (at most this long) until no FederatedWorkload's status still places or
  // reports the member, i.e. the controllers have let go of it: until then a propagation
  // worker may repair (re-create) what cleanup deletes.
  std::chrono::milliseconds settle_timeout{15'000};
  // Time for that wait and between cleanup passes; null: the real clock and sleep_for.
  const Clock* clock = nullptr;
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Polls (every 200 ms on `clock`/`sleep`) until no FederatedWorkload's status.placement or
// status.clusters names `member`; false when `timeout` passed first. A failing list counts
// as released.
bool WaitUntilReleased(ResourceClient& federation, const std::string& member, const Clock& clock,
                       const std::function<void(std::chrono::milliseconds)>& sleep,
                       std::chrono::milliseconds timeout);

// Unjoin end to end; the exit code (0 done, 1 failed; with cleanup, 1 also when an object
// could not be deleted — each one named on `err`).
int RunUnjoin(ResourceClient& federation, const UnjoinRequest& request,
              const MemberClientMaker& make_member, std::ostream& out, std::ostream& err);

}  // namespace meridian::cli
