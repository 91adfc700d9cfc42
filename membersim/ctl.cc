#include "membersim/ctl.h"

#include <cpprest/http_client.h>

#include <boost/asio/ssl.hpp>
#include <nlohmann/json.hpp>

#include "common/json_parse.h"

namespace meridian::membersim {

StatusOr<AdminCall> BuildAdminCall(const CtlCommand& cmd) {
  auto need = [&](size_t n, const char* usage) -> Status {
    if (cmd.args.size() != n) return InvalidArgumentError(std::string("usage: membersim ctl ") + usage);
    return Status::Ok();
  };
  nlohmann::json body = nlohmann::json::object();
  if (!cmd.mode.empty()) {
    if (cmd.mode != "hang" && cmd.mode != "refuse") {
      return InvalidArgumentError("--mode must be hang or refuse");
    }
    body["mode"] = cmd.mode;
  }
  const auto& a = cmd.args;
  if (cmd.verb == "status") {
    MERIDIAN_RETURN_IF_ERROR(need(0, "status"));
    return AdminCall{"GET", "/admin/status", ""};
  }
  if (cmd.verb == "log") {
    MERIDIAN_RETURN_IF_ERROR(need(0, "log"));
    return AdminCall{"GET", "/admin/log", ""};
  }
  if (cmd.verb == "fail-zone" || cmd.verb == "heal-zone") {
    MERIDIAN_RETURN_IF_ERROR(need(2, (cmd.verb + " CLUSTER ZONE").c_str()));
    return AdminCall{"POST", "/admin/clusters/" + a[0] + "/zones/" + a[1] + (cmd.verb == "fail-zone" ? "/fail" : "/heal"), ""};
  }
  if (cmd.verb == "partition") {
    MERIDIAN_RETURN_IF_ERROR(need(1, "partition CLUSTER [--mode hang|refuse]"));
    return AdminCall{"POST", "/admin/clusters/" + a[0] + "/partition", body.dump()};
  }
  if (cmd.verb == "heal") {
    MERIDIAN_RETURN_IF_ERROR(need(1, "heal CLUSTER"));
    return AdminCall{"POST", "/admin/clusters/" + a[0] + "/heal", ""};
  }
  if (cmd.verb == "latency") {
    MERIDIAN_RETURN_IF_ERROR(need(2, "latency CLUSTER MILLISECONDS"));
    char* end = nullptr;
    long long ms = std::strtoll(a[1].c_str(), &end, 10);
    if (a[1].empty() || *end != '\0' || ms < 0) {
      return InvalidArgumentError("latency \"" + a[1] + "\": want a non-negative number of milliseconds");
    }
    return AdminCall{"POST", "/admin/clusters/" + a[0] + "/latency", nlohmann::json{{"ms", ms}}.dump()};
  }
  if (cmd.verb == "fail-region") {
    MERIDIAN_RETURN_IF_ERROR(need(1, "fail-region REGION [--mode hang|refuse]"));
    return AdminCall{"POST", "/admin/regions/" + a[0] + "/fail", body.dump()};
  }
  if (cmd.verb == "heal-region") {
    MERIDIAN_RETURN_IF_ERROR(need(1, "heal-region REGION"));
    return AdminCall{"POST", "/admin/regions/" + a[0] + "/heal", ""};
  }
  return InvalidArgumentError("unknown ctl command \"" + cmd.verb +
                              "\" (want status, log, fail-zone, heal-zone, partition, heal, latency, "
                              "fail-region, heal-region)");
}

StatusOr<std::string> RunCtl(const CtlCommand& cmd) {
  MERIDIAN_ASSIGN_OR_RETURN(AdminCall call, BuildAdminCall(cmd));
  try {
    web::http::client::http_client_config cfg;
    cfg.set_timeout(std::chrono::seconds(30));
    if (!cmd.certificate_authority.empty()) {
      cfg.set_ssl_context_callback(
          [ca = cmd.certificate_authority](boost::asio::ssl::context& ctx) {
            ctx.load_verify_file(ca);
          });
    }
    web::http::client::http_client client(cmd.server, cfg);
    web::http::http_request req(call.method);
    req.set_request_uri(call.path);
    if (!call.body.empty()) req.set_body(call.body, "application/json");
    web::http::http_response resp = client.request(req).get();
    std::string text = resp.extract_utf8string(true).get();
    if (resp.status_code() >= 400) {
      auto j = ParseJson(text);
      std::string msg = (!j.is_discarded() && j.contains("error")) ? j["error"].get<std::string>() : text;
      StatusCode code = resp.status_code() == 404   ? StatusCode::kNotFound
                        : resp.status_code() == 409 ? StatusCode::kFailedPrecondition
                        : resp.status_code() == 400 ? StatusCode::kInvalidArgument
                                                    : StatusCode::kUnknown;
      return Status(code, msg);
    }
    auto j = ParseJson(text);
    return j.is_discarded() ? text : j.dump(2);
  } catch (const std::exception& e) {
    return UnavailableError("membersim at " + cmd.server + ": " + e.what());
  }
}

}  // namespace meridian::membersim
