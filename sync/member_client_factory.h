// Making MemberClients for MemberCluster objects: the one place that turns spec.server,
// spec.insecureSkipTLSVerify and the Secret named by spec.credentialsRef into a client.
// Used by every controller that talks to members (propagation, health monitor).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "api/types.h"
#include "apimachinery/object_service.h"
#include "sync/member_client.h"

namespace meridian::sync {

// Builds the client for a member. Controllers call it when a member first appears and again
// when its server, TLS flag or credentialsRef change.
using MemberClientFactory =
    std::function<StatusOr<std::shared_ptr<MemberClient>>(const api::MemberCluster&)>;

// Fills `credentials` from the core v1 Secret spec.credentialsRef names (namespace default
// "meridian-system"); data keys (base64, as stored): "token", "ca.crt", "tls.crt" +
// "tls.key", each optional. Errors name the member and the Secret: missing or unreadable
// (kUnavailable), a value that is not base64 (kInvalidArgument).
Status ReadMemberCredentials(apimachinery::ObjectService& objects, const api::MemberCluster& member,
                             MemberCredentials* credentials);

// The production factory: an HttpMemberClient with `timeout` per call, credentials read at
// creation (rotation in place is picked up only when the reference changes). `objects`
// must outlive the factory. Thread-safe.
MemberClientFactory HttpMemberClientFactory(apimachinery::ObjectService& objects,
                                            std::chrono::milliseconds timeout);

// Asked before every write a member client sends; a non-OK answer refuses the write (returned
// as the write's error, nothing sent). federation-controller-manager answers with its
// LeaderElector::WritePermit, so a leader resumed from a pause past its lease writes nothing
// to any member. Must be thread-safe.
using WritePermit = std::function<Status()>;

// `inner`'s clients, with every write (Create, Update, UpdateStatus, MergePatch, JsonPatch,
// Delete) asking `permit` first; reads, watches and probes pass through. An empty `permit`
// returns `inner` unchanged (the embedded mode: one process, nobody to fence out).
MemberClientFactory FencedMemberClientFactory(MemberClientFactory inner, WritePermit permit);

// One client per member, made by `factory` on first use and again when the member's server,
// TLS flag or credentialsRef change (what the factory reads). For controllers that reach
// members now and then (the residency audit, drill sampling). Not thread-safe: one owner.
class MemberClientCache {
 public:
  explicit MemberClientCache(MemberClientFactory factory) : factory_(std::move(factory)) {}
  // The member's client, or null with the factory's error in `error`.
  std::shared_ptr<MemberClient> Get(const api::MemberCluster& member, std::string* error);

 private:
  MemberClientFactory factory_;
  // member name -> (what the client was made from, the client)
  std::map<std::string, std::pair<std::string, std::shared_ptr<MemberClient>>> clients_;
};

}  // namespace meridian::sync
