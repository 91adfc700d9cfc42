// `membersim ctl`: the admin API (see HandleAdmin in simulator.h) from the command line.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace meridian::membersim {

struct CtlCommand {
  std::string server;                 // "http://127.0.0.1:PORT" or https://
  std::string certificate_authority;  // PEM file to verify an https server with ("" = system)
  std::string verb;              // status | log | fail-zone | heal-zone | partition | heal |
                                 // latency | fail-region | heal-region
  std::vector<std::string> args;  // positional arguments of the verb
  std::string mode;              // partition / fail-region: hang | refuse ("" = default)
};

// The HTTP method, path and JSON body the verb maps to. kInvalidArgument for a wrong verb or
// argument count (the message shows the usage). Pure.
struct AdminCall {
  std::string method, path, body;
};
StatusOr<AdminCall> BuildAdminCall(const CtlCommand& cmd);

// Performs the call; returns the response text for stdout. Errors carry the server's message
// (kNotFound for an unknown cluster etc., kUnavailable when the server cannot be reached).
StatusOr<std::string> RunCtl(const CtlCommand& cmd);

}  // namespace meridian::membersim
