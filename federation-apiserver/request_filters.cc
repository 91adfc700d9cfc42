#include "federation-apiserver/request_filters.h"

#include <sstream>

#include "federation-apiserver/authentication.h"

namespace meridian::apiserver {
namespace {

// Splits one CSV line; double quotes group a field (so "g1,g2" is one field).
StatusOr<std::vector<std::string>> SplitCsv(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) return InvalidArgumentError("unterminated quote");
  return fields;
}

}  // namespace

StatusOr<std::map<std::string, TokenUser>> ParseTokenFile(const std::string& text,
                                                          const std::string& source) {
  std::map<std::string, TokenUser> tokens;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto where = source + ":" + std::to_string(n) + ": ";
    StatusOr<std::vector<std::string>> fields = SplitCsv(line);
    if (!fields.ok()) return InvalidArgumentError(where + fields.status().message());
    if (fields->size() < 3 || fields->size() > 4) {
      return InvalidArgumentError(where + "expected token,user,uid[,\"group1,group2\"]");
    }
    const std::string& token = (*fields)[0];
    if (token.empty()) return InvalidArgumentError(where + "empty token");
    if ((*fields)[1].empty()) return InvalidArgumentError(where + "empty user name");
    TokenUser user{(*fields)[1], (*fields)[2], {}};
    if (fields->size() == 4) {
      std::istringstream groups((*fields)[3]);
      std::string g;
      while (std::getline(groups, g, ',')) {
        if (!g.empty()) user.groups.push_back(g);
      }
    }
    if (!tokens.emplace(token, std::move(user)).second) {
      return InvalidArgumentError(where + "duplicate token");
    }
  }
  return tokens;
}

namespace {

bool IsLongRunning(const apimachinery::rest::RestRequest& r) {
  const std::string watch = r.Query("watch");
  return watch == "true" || watch == "1" || r.path.find("/watch/") != std::string::npos;
}

std::string UserKey(const apimachinery::rest::RestRequest& r) {
  return r.user.name.empty() ? "system:anonymous" : r.user.name;
}

}  // namespace

StatusOr<std::shared_ptr<void>> InFlightLimiter::Acquire(
    const std::shared_ptr<InFlightLimiter>& self, const apimachinery::rest::RestRequest& request) {
  if (IsLongRunning(request)) return std::shared_ptr<void>();
  for (const std::string& g : request.user.groups) {
    if (g == "system:masters") return std::shared_ptr<void>();
  }
  const bool mutating =
      request.method != "GET" && request.method != "HEAD" && request.method != "OPTIONS";
  const std::string user = UserKey(request);
  const InFlightLimits& l = self->limits_;
  {
    std::lock_guard lock(self->mu_);
    int& total = mutating ? self->counts_.mutating_requests : self->counts_.requests;
    const int cap = mutating ? l.max_mutating_requests : l.max_requests;
    if (cap > 0 && total >= cap) {
      return ResourceExhaustedError(
          "Too many requests, please try again later: " + std::to_string(cap) +
          (mutating ? " mutating" : "") + " requests in flight");
    }
    auto it = self->per_user_.find(user);
    const int mine = it == self->per_user_.end() ? 0 : it->second;
    if (l.max_requests_per_user > 0 && mine >= l.max_requests_per_user) {
      return ResourceExhaustedError("Too many requests, please try again later: user " + user +
                                    " has " + std::to_string(mine) + " requests in flight");
    }
    ++total;
    ++self->per_user_[user];
  }
  // The deleter runs when the last copy of the hold goes (std::shared_ptr calls it for a
  // null pointer too).
  return std::shared_ptr<void>(nullptr, [self, mutating, user](void*) {
    std::lock_guard lock(self->mu_);
    --(mutating ? self->counts_.mutating_requests : self->counts_.requests);
    auto it = self->per_user_.find(user);
    if (it != self->per_user_.end() && --it->second <= 0) self->per_user_.erase(it);
  });
}

InFlightLimiter::Counts InFlightLimiter::InFlight() const {
  std::lock_guard lock(mu_);
  return counts_;
}

int InFlightLimiter::InFlightFor(const std::string& user) const {
  std::lock_guard lock(mu_);
  auto it = per_user_.find(user.empty() ? "system:anonymous" : user);
  return it == per_user_.end() ? 0 : it->second;
}

apimachinery::rest::RestFilter InFlightFilter(std::shared_ptr<InFlightLimiter> limiter) {
  return [limiter = std::move(limiter)](apimachinery::rest::RestRequest& request) -> Status {
    StatusOr<std::shared_ptr<void>> hold = InFlightLimiter::Acquire(limiter, request);
    if (!hold.ok()) return hold.status();
    if (hold->use_count() > 0) request.holds.push_back(std::move(hold).value());  // not exempt
    return Status::Ok();
  };
}

apimachinery::rest::RestFilter BearerTokenFilter(std::map<std::string, TokenUser> tokens) {
  return AuthenticationFilter({TokenAuthenticator(std::move(tokens))});
}

}  // namespace meridian::apiserver
