// Fencing tokens for a leader's writes through the API (the server-side half of fencing a
// leader elected on a coordination.k8s.io/v1 Lease, apimachinery/leader_election.h).
//
// A leader paused past its lease (SIGSTOP, a stall, a partition) can wake up after another
// candidate took over, with writes in hand that it checked before the pause. Its own checks
// (lease_validity.h) cannot close that: the check and the send are two steps. The server
// can, the way etcd and Chubby do with a sequencer: every write of the leader carries a token
// naming its term, and the server refuses a write whose term is not the Lease's current one.
//
// The token names the Lease and the term: (holderIdentity, leaseTransitions) as they stood
// right after this leader won. Both are needed: leaseTransitions alone does not say who won
// (two candidates read the same count), holderIdentity alone does not tell a candidate's
// earlier term from its later one (the same identity may lose and win again after a
// release). A renewal changes neither, so the token is stable for the whole term and
// changes at every takeover (LeaderElection adds one to leaseTransitions when the holder
// changes).
//
// Sent as one request header:
//   Meridian-Fencing-Token: lease=<namespace>/<name>; transitions=<n>; holder=<identity>
// holder is last and runs to the end of the value (an identity may contain "; ").
//
// Pure: no I/O (federation-apiserver/leader_fencing.h is the server's filter around it).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace meridian::apimachinery {

// The header (lower case, as RestRequest keeps header names).
inline constexpr char kFencingTokenHeader[] = "meridian-fencing-token";

struct FencingToken {
  std::string lease_namespace;
  std::string lease_name;
  std::string holder;       // spec.holderIdentity
  int64_t transitions = 0;  // spec.leaseTransitions
  friend bool operator==(const FencingToken&, const FencingToken&) = default;
};

// The header's value. The inverse of ParseFencingToken.
std::string FormatFencingToken(const FencingToken& token);

// kInvalidArgument naming the header and what is wrong (a missing or misplaced field, a
// transitions count that is not a non-negative integer, an empty holder, characters an HTTP
// header value cannot carry).
StatusOr<FencingToken> ParseFencingToken(const std::string& value);

// The token of the term `lease` (a Lease object as stored) records: kFailedPrecondition when
// it has no holder (released, or never held).
StatusOr<FencingToken> FencingTokenOf(const nlohmann::json& lease);

// Whether a write carrying `token` may go ahead, given the Lease it names as the store has it
// now (`lease` null when the Lease does not exist). OK when holder and transitions match;
// else kAborted (409 Conflict), naming the token's term and the Lease's current holder, so a
// stale leader's log says who took over.
Status CheckFencingToken(const FencingToken& token, const nlohmann::json* lease);

}  // namespace meridian::apimachinery
