// Making MemberClients for MemberCluster objects: the one place that turns spec.server,
// spec.insecureSkipTLSVerify and the Secret named by spec.credentialsRef into a client.
// Used by every controller that talks to members (propagation, health monitor).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

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

}  // namespace meridian::sync
