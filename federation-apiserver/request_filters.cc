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

apimachinery::rest::RestFilter BearerTokenFilter(std::map<std::string, TokenUser> tokens) {
  return AuthenticationFilter({TokenAuthenticator(std::move(tokens))});
}

}  // namespace meridian::apiserver
