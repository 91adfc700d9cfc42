#include "failover/drill_fault.h"

#include <cpprest/http_client.h>

#include <algorithm>
#include <regex>
#include <set>

#include "failover/drill.h"

namespace meridian::failover {

StatusOr<MembersimAdmin> FindMembersimAdmin(const api::MemberCluster& member) {
  const std::string& name = member.metadata.name;
  if (auto it = member.metadata.annotations.find(kMembersimAnnotation);
      it != member.metadata.annotations.end()) {
    static const std::regex url(R"(https?://[^/\s]+)");
    std::string root = it->second;
    while (!root.empty() && root.back() == '/') root.pop_back();
    if (!std::regex_match(root, url)) {
      return FailedPreconditionError("member " + name + ": annotation " + kMembersimAnnotation +
                                     " \"" + it->second + "\": want http://HOST:PORT");
    }
    return MembersimAdmin{root, name};
  }
  static const std::regex shared(R"((https?://[^/\s]+)/clusters/([^/\s]+)/?)");
  std::smatch m;
  if (std::regex_match(member.spec.server, m, shared)) return MembersimAdmin{m[1], m[2]};
  return FailedPreconditionError("member " + name + ": spec.server \"" + member.spec.server +
                                 "\" is not a membersim cluster URL (http://HOST:PORT/clusters/NAME)"
                                 " and it has no " + kMembersimAnnotation +
                                 " annotation; cannot inject a fault");
}

StatusOr<std::vector<AdminRequest>> FaultRequests(const api::DrillTarget& target,
                                                  const std::vector<api::MemberCluster>& members,
                                                  bool heal) {
  MERIDIAN_RETURN_IF_ERROR(CheckTargetExists(target, members));
  const std::string verb = heal ? "heal" : "fail";
  std::vector<AdminRequest> out;
  std::set<std::string> roots_done;
  for (const api::MemberCluster& m : members) {
    if (!TargetTouches(target, m)) continue;
    MERIDIAN_ASSIGN_OR_RETURN(MembersimAdmin admin, FindMembersimAdmin(m));
    if (!target.zone.empty()) {
      out.push_back({admin.root, "/admin/clusters/" + admin.cluster + "/zones/" + target.zone + "/" + verb, ""});
    } else if (!target.cluster.empty()) {
      out.push_back(heal ? AdminRequest{admin.root, "/admin/clusters/" + admin.cluster + "/heal", ""}
                         : AdminRequest{admin.root, "/admin/clusters/" + admin.cluster + "/partition",
                                        R"({"mode":"refuse"})"});
    } else if (roots_done.insert(admin.root).second) {
      out.push_back({admin.root, "/admin/regions/" + target.region + "/" + verb,
                     heal ? "" : R"({"mode":"refuse"})"});
    }
  }
  return out;
}

Status MembersimFaultInjector::Inject(const api::DrillTarget& target,
                                      const std::vector<api::MemberCluster>& members) {
  MERIDIAN_ASSIGN_OR_RETURN(auto requests, FaultRequests(target, members, false));
  return Send(requests);
}

Status MembersimFaultInjector::Heal(const api::DrillTarget& target,
                                    const std::vector<api::MemberCluster>& members) {
  MERIDIAN_ASSIGN_OR_RETURN(auto requests, FaultRequests(target, members, true));
  return Send(requests);
}

Status MembersimFaultInjector::Send(const std::vector<AdminRequest>& requests) {
  // Every request is attempted even after one fails: healing half a region beats none.
  Status first;
  for (const AdminRequest& r : requests) {
    const std::string url = r.root + r.path;
    try {
      web::http::client::http_client_config cfg;
      cfg.set_timeout(timeout_);
      web::http::client::http_client client(r.root, cfg);
      web::http::http_request req(web::http::methods::POST);
      req.set_request_uri(r.path);
      if (!r.body.empty()) req.set_body(r.body, "application/json");
      web::http::http_response resp = client.request(req).get();
      std::string text = resp.extract_utf8string(true).get();
      const int code = resp.status_code();
      if (code >= 400 && code != 409 && first.ok()) {
        first = UnavailableError("POST " + url + ": HTTP " + std::to_string(code) + ": " + text);
      }
    } catch (const std::exception& e) {
      if (first.ok()) first = UnavailableError("POST " + url + ": " + e.what());
    }
  }
  return first;
}

}  // namespace meridian::failover
