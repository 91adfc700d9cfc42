#include "federation-apiserver/console.h"

#include <string>

namespace meridian::apiserver {

namespace rest = apimachinery::rest;

rest::RestResponse ServeConsole(const rest::RestRequest& request) {
  const std::string prefix = "/console/";
  rest::RestResponse r;
  if (request.path == "/console") {
    r.code = 308;  // relative module URLs resolve under /console/ only
    r.content_type = "text/plain; charset=utf-8";
    r.headers["Location"] = prefix;
    r.body = "see /console/\n";
    return r;
  }
  std::string rel = request.path.size() > prefix.size() ? request.path.substr(prefix.size()) : "";
  if (rel.empty()) rel = "index.html";
  for (const ConsoleFile& f : ConsoleFiles()) {
    if (f.path != rel) continue;
    r.content_type = std::string(f.content_type);
    r.body = std::string(f.body);
    // Scripts only from this origin (no inline script), API calls only to it, no framing.
    r.headers["Content-Security-Policy"] =
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
    r.headers["X-Content-Type-Options"] = "nosniff";
    r.headers["Referrer-Policy"] = "no-referrer";
    r.headers["Cache-Control"] = "no-cache";
    return r;
  }
  return rest::RestResponse::Error(apimachinery::ApiError::FromStatus(
      NotFoundError("the console has no file " + rel + " (see console/ in the source tree)")));
}

void InstallConsole(rest::RestHandler& handler) {
  handler.AddRoute("GET", "/console", ServeConsole, /*prefix=*/true, /*before_filters=*/true);
}

}  // namespace meridian::apiserver
