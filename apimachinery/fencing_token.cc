#include "apimachinery/fencing_token.h"

#include <charconv>

namespace meridian::apimachinery {
namespace {

using nlohmann::json;

constexpr char kLease[] = "lease=";
constexpr char kTransitions[] = "; transitions=";
constexpr char kHolder[] = "; holder=";

Status Bad(const std::string& value, const std::string& why) {
  return InvalidArgumentError(std::string("header Meridian-Fencing-Token \"") + value +
                              "\": " + why +
                              " (expected \"lease=NAMESPACE/NAME; transitions=N; holder=ID\")");
}

// Visible ASCII and spaces: what an HTTP header value carries without encoding.
bool HeaderSafe(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

std::string LeaseName(const FencingToken& t) { return t.lease_namespace + "/" + t.lease_name; }

std::string Term(const std::string& holder, int64_t transitions) {
  return "holder \"" + holder + "\", leaseTransitions " + std::to_string(transitions);
}

}  // namespace

std::string FormatFencingToken(const FencingToken& token) {
  return kLease + LeaseName(token) + kTransitions + std::to_string(token.transitions) + kHolder +
         token.holder;
}

StatusOr<FencingToken> ParseFencingToken(const std::string& value) {
  if (!HeaderSafe(value)) return Bad(value, "not printable ASCII");
  if (value.rfind(kLease, 0) != 0) return Bad(value, "does not start with lease=");
  const size_t transitions_at = value.find(kTransitions);
  const size_t holder_at = value.find(kHolder);
  if (transitions_at == std::string::npos || holder_at == std::string::npos ||
      holder_at < transitions_at) {
    return Bad(value, "transitions= and holder= must follow, in that order");
  }
  FencingToken token;
  const std::string lease = value.substr(sizeof kLease - 1, transitions_at - (sizeof kLease - 1));
  const size_t slash = lease.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == lease.size() ||
      lease.find('/', slash + 1) != std::string::npos) {
    return Bad(value, "lease \"" + lease + "\" is not NAMESPACE/NAME");
  }
  token.lease_namespace = lease.substr(0, slash);
  token.lease_name = lease.substr(slash + 1);
  const char* first = value.data() + transitions_at + sizeof kTransitions - 1;
  const char* last = value.data() + holder_at;
  auto [end, ec] = std::from_chars(first, last, token.transitions);
  if (ec != std::errc() || end != last || first == last || token.transitions < 0) {
    return Bad(value,
               "transitions \"" + std::string(first, last) + "\" is not a non-negative integer");
  }
  token.holder = value.substr(holder_at + sizeof kHolder - 1);
  if (token.holder.empty()) return Bad(value, "holder is empty");
  return token;
}

StatusOr<FencingToken> FencingTokenOf(const json& lease) {
  FencingToken token;
  const json empty = json::object();
  const json& meta = lease.is_object() && lease.contains("metadata") ? lease["metadata"] : empty;
  const json& spec = lease.is_object() && lease.contains("spec") ? lease["spec"] : empty;
  token.lease_namespace = meta.value("namespace", "");
  token.lease_name = meta.value("name", "");
  token.holder = spec.is_object() ? spec.value("holderIdentity", "") : "";
  token.transitions = spec.is_object() ? spec.value("leaseTransitions", int64_t{0}) : 0;
  if (token.holder.empty()) {
    return FailedPreconditionError("lease " + LeaseName(token) + " has no holder");
  }
  return token;
}

Status CheckFencingToken(const FencingToken& token, const json* lease) {
  const std::string stale = "fencing token for lease " + LeaseName(token) + " (" +
                            Term(token.holder, token.transitions) + ") is stale: ";
  if (lease == nullptr) {
    return AbortedError(stale + "the lease does not exist; this writer is not the leader");
  }
  StatusOr<FencingToken> now = FencingTokenOf(*lease);
  if (!now.ok()) {
    return AbortedError(stale +
                        "the lease has no holder now (released); this writer is no "
                        "longer the leader");
  }
  if (now->holder == token.holder && now->transitions == token.transitions) return Status::Ok();
  return AbortedError(stale + "the lease is held by " + Term(now->holder, now->transitions) +
                      "; this writer is no longer the leader");
}

}  // namespace meridian::apimachinery
