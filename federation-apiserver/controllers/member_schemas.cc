// The member-schemas controller (federation-apiserver/member_schema_fetcher.h): each member's
// /openapi/v2 document, fetched at join and refreshed, for FederatedWorkload admission.
#include <CLI/CLI.hpp>
#include <chrono>

#include "federation-apiserver/controller_manager.h"
#include "federation-apiserver/member_schema_fetcher.h"
#include "sync/member_client_factory.h"

namespace meridian::apiserver {
namespace {

int& RefreshMinutes() {
  static int minutes = 10;
  return minutes;
}

void AddFlags(CLI::App& app) {
  app.add_option("--member-schema-refresh-minutes", RefreshMinutes(),
                 "Minutes between two fetches of a member's OpenAPI document (template "
                 "schemas; also fetched at join, on a version change and when a template names "
                 "a kind no member serves)")
      ->check(CLI::Range(1, 24 * 60))
      ->capture_default_str();
}

Status CheckNotSelected() {
  std::vector<std::string> given;
  if (RefreshMinutes() != 10) given.push_back("--member-schema-refresh-minutes");
  return FlagsWithoutController("member-schemas", given);
}

const ControllerRegistration kMemberSchemas({
    .name = "member-schemas",
    .description = "fetches each member's OpenAPI v2 schemas; FederatedWorkload templates are "
                   "validated against them",
    .start_order = 15,
    .add_flags = AddFlags,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      if (c.member_schemas == nullptr) {
        return InternalError("member-schemas: the process has no schema registry");
      }
      MemberSchemaFetcher::Options options;
      options.times.refresh_every = std::chrono::minutes(RefreshMinutes());
      // A document is megabytes: a longer per-call timeout than the probes'.
      return StartOwned(std::make_unique<MemberSchemaFetcher>(
          c.objects, c.clock,
          sync::FencedMemberClientFactory(
              sync::HttpMemberClientFactory(c.objects, std::chrono::seconds(10)),
              c.member_write_permit),
          *c.member_schemas, options, c.informers));
    },
    .check_not_selected = CheckNotSelected,
});

}  // namespace
}  // namespace meridian::apiserver
