// The web console (issue 21): static HTML, CSS and JavaScript modules from console/ in the
// source tree, embedded into the binary at build time (cmake/EmbedFiles.cmake), served at
// /console/ on the API's own port and TLS. The files carry no data: they are served before
// authentication, and every API call the console makes carries the user's bearer token, so
// authentication and RBAC decide what a user sees and may do, as for kubectl.
#pragma once

#include <string_view>
#include <vector>

#include "apimachinery/rest/rest_handler.h"

namespace meridian::apiserver {

struct ConsoleFile {
  std::string_view path;  // relative to console/: "index.html", "js/fleet.js"
  std::string_view content_type;
  std::string_view body;
};

// Every embedded file (generated at build time). Thread-safe.
const std::vector<ConsoleFile>& ConsoleFiles();

// GET /console -> 308 to /console/; /console/ -> index.html; /console/PATH -> the file, or
// 404 (a Kubernetes Status). Responses forbid framing and inline or remote scripts
// (Content-Security-Policy) and are not cached (the files change with the binary).
apimachinery::rest::RestResponse ServeConsole(const apimachinery::rest::RestRequest& request);

// Adds the route above to `handler` (before its filters). Startup only.
void InstallConsole(apimachinery::rest::RestHandler& handler);

}  // namespace meridian::apiserver
