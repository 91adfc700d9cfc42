#include "federation-apiserver/compliance_review.h"

#include <string>

#include "api/evidence.h"
#include "api/types.h"
#include "federation-apiserver/review_route.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace rest = apimachinery::rest;
using apimachinery::ApiError;

constexpr char kEvidencePlural[] = "residencyevidences";

// "90s", "30m", "720h": a positive whole number of seconds, minutes or hours (at most 100
// years, so the period's start cannot overflow).
std::optional<std::chrono::seconds> ParseSince(const std::string& text) {
  if (text.size() < 2 || text.size() > 12) return std::nullopt;
  const char unit = text.back();
  int64_t n = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    n = n * 10 + (text[i] - '0');
  }
  const int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
  if (scale == 0 || n <= 0 || n > int64_t{876000} * 3600 / scale) return std::nullopt;
  return std::chrono::seconds(n * scale);
}

std::string Quoted(const json& value) { return value.dump(); }

// Where the ledger starts, from the first page: the first entry's time, or, when compaction
// left a checkpoint first, the chain's first time it carries. Read before the chain is
// verified (the period must be known to build the report); a chain that then fails to verify
// gives no report anyway.
std::optional<Timestamp> LedgerFirst(const apimachinery::SharedList& page) {
  for (const apimachinery::SharedObject& item : page.items) {
    const std::shared_ptr<const json> object = apimachinery::DecodedObject(item);
    const json& o = *object;
    auto meta = o.find("metadata");
    if (meta != o.end() && meta->is_object() && meta->value("name", "") == api::kEvidenceHeadName) {
      continue;
    }
    auto spec = o.find("spec");
    if (spec == o.end() || !spec->is_object()) return std::nullopt;
    std::string time = spec->value("time", "");
    auto data = spec->find("data");
    if (spec->value("type", "") == residency::kCheckpointType && data != spec->end() &&
        data->is_object() && data->contains("firstTime") && (*data)["firstTime"].is_string()) {
      time = (*data)["firstTime"].get<std::string>();
    }
    Timestamp t{};
    if (!ParseRfc3339(time, &t)) return std::nullopt;
    return t;
  }
  return std::nullopt;
}

// Why there is no report when the chain did not verify (ChainVerifier's error).
Status Unverified(const Status& status) {
  if (status.code() == StatusCode::kFailedPrecondition) {
    return FailedPreconditionError(
        "residency evidence cannot be verified by the server: " + status.message() +
        " (a server started with --evidence-public-key-file verifies a compacted ledger, and "
        "so does `fedctl residency report --public-key evidence-signing.pub`)");
  }
  return Status(StatusCode::kDataLoss,
                "residency evidence is broken, no report: " + status.message());
}

struct Answer {
  FieldErrors errors;  // the spec does not fit the ledger: 422
  json status;
};

// Reads the ledger page by page, verifying its chain and building the report as it goes.
// Errors: a list failed (kUnavailable), the chain is broken (kDataLoss) or compacted
// (kFailedPrecondition), an entry's data does not read (kDataLoss naming it).
StatusOr<Answer> Report(apimachinery::ObjectService& objects, const ComplianceReviewSpec& spec,
                        Timestamp now, const std::optional<residency::EvidenceVerifyKey>& key) {
  const apimachinery::ResourceInfo* info =
      objects.registry().Find(api::kGroup, api::kVersion, kEvidencePlural);
  if (info == nullptr) return InternalError(std::string(kEvidencePlural) + " is not served");
  apimachinery::ListRequest request;
  request.limit = kEvidencePageSize;
  auto page = [&](const std::string& token) -> StatusOr<apimachinery::SharedList> {
    request.continue_token = token;
    apimachinery::ApiResult<apimachinery::SharedList> list = objects.ListShared(*info, "", request);
    if (!list.ok()) {
      return UnavailableError(std::string("listing ") + kEvidencePlural + ": " +
                              list.error().message);
    }
    return std::move(list.value());
  };
  MERIDIAN_ASSIGN_OR_RETURN(apimachinery::SharedList list, page(""));
  Answer answer;
  const residency::ReportOptions options =
      ComplianceReportPeriod(spec, LedgerFirst(list), now, &answer.errors);
  if (!answer.errors.empty()) return answer;
  residency::ChainVerifier verifier(key);
  residency::ComplianceReportBuilder builder(options);
  while (true) {
    for (const apimachinery::SharedObject& item : list.items) {
      Status added = item.encoded ? verifier.AddStored(*item.encoded) : verifier.Add(*item.object);
      if (!added.ok()) return Unverified(added);
      const std::shared_ptr<const json> object = apimachinery::DecodedObject(item);
      auto meta = object->find("metadata");
      if (meta != object->end() && meta->is_object() &&
          meta->value("name", "") == api::kEvidenceHeadName) {
        continue;
      }
      FieldErrors decode_errors;
      const api::ResidencyEvidence entry =
          api::DecodeResidencyEvidence(*object, &decode_errors);
      if (!decode_errors.empty()) continue;  // the verifier has just accepted it: cannot happen
      try {
        builder.Add(entry.spec);
      } catch (const json::exception& e) {
        return Status(StatusCode::kDataLoss,
                      "entry " + std::to_string(entry.spec.sequence) +
                          ": its data does not read as the report expects: " + e.what());
      }
    }
    const std::string next = list.metadata.value("continue", "");
    if (next.empty()) break;
    MERIDIAN_ASSIGN_OR_RETURN(list, page(next));
  }
  StatusOr<residency::ChainSummary> chain = verifier.Finish();
  if (!chain.ok()) return Unverified(chain.status());
  answer.status = ComplianceReviewStatus(std::move(builder).Finish(*chain), spec.format);
  return answer;
}

rest::RestResponse Review(apimachinery::ObjectService& objects, const rbac::Authorizer& authorizer,
                          const Clock& clock, const std::optional<residency::EvidenceVerifyKey>& key,
                          const rest::RestRequest& request) {
  // The report shows what the ledger holds: decided as reading it.
  rbac::Attributes read_ledger;
  read_ledger.user = request.user.name;
  read_ledger.groups = request.user.groups;
  read_ledger.verb = "list";
  read_ledger.api_group = api::kGroup;
  read_ledger.resource = kEvidencePlural;
  if (!authorizer.Allows(read_ledger)) {
    return rest::RestResponse::Error(ApiError::Forbidden(rbac::ForbiddenMessage(read_ledger)));
  }
  json body;
  if (auto bad = ParseReviewBody(request, kComplianceReviewKind, &body)) return *bad;
  auto invalid = [](const FieldErrors& errors) {
    return rest::RestResponse::Error(
        ApiError::Invalid(api::kGroup, kComplianceReviewKind, "", errors));
  };
  FieldErrors errors;
  const ComplianceReviewSpec spec = ParseComplianceReviewSpec(body, &errors);
  if (!errors.empty()) return invalid(errors);
  StatusOr<Answer> answer = Report(objects, spec, clock.Now(), key);
  if (!answer.ok()) return rest::RestResponse::Error(ApiError::FromStatus(answer.status()));
  if (!answer->errors.empty()) return invalid(answer->errors);
  json out = {{"apiVersion", std::string(api::kGroup) + "/" + api::kVersion},
              {"kind", kComplianceReviewKind},
              {"metadata", {{"creationTimestamp", nullptr}}},
              {"spec", body.contains("spec") ? body["spec"] : json::object()},
              {"status", std::move(answer->status)}};
  return rest::RestResponse::Json(201, out);
}

}  // namespace

ComplianceReviewSpec ParseComplianceReviewSpec(const json& body, FieldErrors* errors) {
  ComplianceReviewSpec spec;
  if (!body.is_object()) {
    errors->push_back({"", "a ComplianceReview must be a JSON object"});
    return spec;
  }
  if (body.contains("kind") && body["kind"] != kComplianceReviewKind) {
    errors->push_back({"kind", "must be ComplianceReview, not " + body["kind"].dump()});
  }
  if (!body.contains("spec")) return spec;  // every field has a default
  const json& s = body["spec"];
  if (!s.is_object()) {
    errors->push_back({"spec", "must be an object"});
    return spec;
  }
  for (const auto& [key, value] : s.items()) {
    const std::string path = "spec." + key;
    if (key != "since" && key != "until" && key != "namespace" && key != "format") {
      errors->push_back({path, "Unknown field (expected since, until, namespace, format)"});
      continue;
    }
    if (!value.is_string()) {
      errors->push_back({path, "Invalid value: " + Quoted(value) + ": must be a string"});
      continue;
    }
    const std::string text = value.get<std::string>();
    if (key == "since") {
      spec.since = ParseSince(text);
      spec.since_text = text;
      if (!spec.since) {
        errors->push_back({path, "Invalid value: " + Quoted(value) +
                                     ": a whole number of seconds, minutes or hours such as "
                                     "90s, 30m or 720h"});
      }
    } else if (key == "until") {
      Timestamp t{};
      if (!ParseRfc3339(text, &t)) {
        errors->push_back({path, "Invalid value: " + Quoted(value) +
                                     ": an RFC 3339 UTC time such as 2026-12-06T09:30:00Z"});
      } else {
        spec.until = t;
      }
    } else if (key == "namespace") {
      spec.ns = text;
    } else {
      std::optional<residency::ReportFormat> format = residency::ParseReportFormat(text);
      if (!format) {
        errors->push_back(
            {path, "Unsupported value: " + Quoted(value) + ": one of text, json, html"});
      } else {
        spec.format = *format;
      }
    }
  }
  return spec;
}

residency::ReportOptions ComplianceReportPeriod(const ComplianceReviewSpec& spec,
                                                std::optional<Timestamp> ledger_first,
                                                Timestamp now, FieldErrors* errors) {
  residency::ReportOptions o;
  o.ns = spec.ns;
  o.to = spec.until.value_or(std::chrono::floor<std::chrono::seconds>(now));
  if (o.to > now) {
    errors->push_back({"spec.until", "Invalid value: \"" + FormatRfc3339(o.to) +
                                         "\": is in the future (the server's time is " +
                                         FormatRfc3339(now) + ")"});
    return o;
  }
  if (!ledger_first) {
    errors->push_back({"spec.since",
                       "the residency evidence ledger is empty: no period to "
                       "report on"});
    return o;
  }
  const std::string first = FormatRfc3339(*ledger_first);
  if (o.to < *ledger_first) {
    errors->push_back({"spec.until", "Invalid value: \"" + FormatRfc3339(o.to) +
                                         "\": before the evidence ledger's first entry (" + first +
                                         ")"});
    return o;
  }
  const auto held = std::chrono::floor<std::chrono::seconds>(o.to - *ledger_first);
  if (!spec.since) {
    o.from = o.to - held;
    return o;
  }
  o.from = o.to - *spec.since;
  if (o.from < *ledger_first) {
    errors->push_back(
        {"spec.since", "Invalid value: \"" + spec.since_text + "\": reaches back to " +
                           FormatRfc3339(o.from) + ", before the evidence ledger's first entry (" +
                           first + "); the ledger holds at most " + std::to_string(held.count()) +
                           "s (" + residency::FormatReportDuration(held) + ") before " +
                           FormatRfc3339(o.to) + " (omit since for all of it)"});
  }
  return o;
}

json ComplianceReviewStatus(const residency::ComplianceReport& report,
                            residency::ReportFormat format) {
  // compliance-report[-NAMESPACE]-20261206T093000Z.html: the period's end, no ':' for file systems.
  std::string stamp;
  for (char c : FormatRfc3339(report.to)) {
    if (c != '-' && c != ':') stamp += c;
  }
  const std::string ext = residency::ReportFileExtension(format);
  return {{"from", FormatRfc3339(report.from)},
          {"to", FormatRfc3339(report.to)},
          {"format", ext == "txt" ? "text" : ext},
          {"contentType", residency::ReportContentType(format)},
          {"filename", "compliance-report" + (report.ns.empty() ? "" : "-" + report.ns) + "-" +
                           stamp + "." + ext},
          {"content", residency::RenderComplianceReport(report, format)}};
}

void InstallComplianceReview(rest::RestHandler& handler, apimachinery::ObjectService& objects,
                             const rbac::Authorizer& authorizer, const Clock& clock,
                             std::optional<residency::EvidenceVerifyKey> key) {
  InstallReviewRoute(handler, kComplianceReviewPlural, "compliancereview", kComplianceReviewKind,
                     [&objects, &authorizer, &clock, key = std::move(key)](const rest::RestRequest& request) {
                       return Review(objects, authorizer, clock, key, request);
                     });
}

}  // namespace meridian::apiserver
