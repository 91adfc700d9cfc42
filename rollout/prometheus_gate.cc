#include "rollout/prometheus_gate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/json_parse.h"
#include "rollout/stage_machine.h"

namespace meridian::rollout {
namespace {

using nlohmann::json;

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// At most `n` characters of `text`, on one line, for an error message.
std::string Excerpt(std::string_view text, size_t n = 120) {
  std::string out(text.substr(0, n));
  std::replace(out.begin(), out.end(), '\n', ' ');
  return text.size() > n ? out + "..." : out;
}

// A series' labels as PromQL writes them: {__name__="up", job="x"} -> up{job="x"}.
std::string SeriesName(const json& metric) {
  std::string name, labels;
  if (metric.is_object()) {
    for (auto it = metric.begin(); it != metric.end(); ++it) {
      const std::string v = it.value().is_string() ? it.value().get<std::string>() : "?";
      if (it.key() == "__name__") {
        name = v;
      } else {
        labels += (labels.empty() ? "" : ", ") + it.key() + "=\"" + v + "\"";
      }
    }
  }
  return name + "{" + labels + "}";
}

// A sample pair [<unix time>, "<value>"]: the value as Prometheus formats it ("NaN", "+Inf").
StatusOr<double> SampleValue(const json& pair) {
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) {
    return FailedPreconditionError("a sample is not [time, \"value\"]: " + Excerpt(pair.dump()));
  }
  const std::string text = pair[1].get<std::string>();
  if (text == "+Inf" || text == "Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || std::isnan(v)) {
    return FailedPreconditionError("the value is " + text +
                                   ", not a number (a ratio with nothing to divide by?)");
  }
  return v;
}

}  // namespace

StatusOr<double> ParsePrometheusAnswer(int http_status, std::string_view body) {
  json j = ParseJson(body);  // Prometheus' bytes (common/json_parse.h)
  if (j.is_discarded() || !j.is_object() || !j.contains("status")) {
    return FailedPreconditionError("not a Prometheus API answer (HTTP " +
                                   std::to_string(http_status) + "): " + Excerpt(body));
  }
  if (j["status"] != "success") {
    const std::string type = j.value("errorType", std::string("error"));
    const std::string error = j.value("error", std::string("(no message)"));
    return FailedPreconditionError("Prometheus answered HTTP " + std::to_string(http_status) +
                                   ": " + type + ": " + error);
  }
  const json& data = j.contains("data") ? j["data"] : json();
  const std::string type = data.is_object() ? data.value("resultType", std::string()) : "";
  const json result = data.is_object() && data.contains("result") ? data["result"] : json();
  if (type == "scalar") return SampleValue(result);
  if (type != "vector") {
    return FailedPreconditionError(
        "the query returned a " + (type.empty() ? std::string("result of no type") : type) +
        " (one number is needed: a scalar or an instant vector of one sample)");
  }
  if (!result.is_array() || result.empty()) {
    return FailedPreconditionError(
        "the query returned no series (no data: is the metric scraped, are the labels right?)");
  }
  if (result.size() > 1) {
    return FailedPreconditionError("the query returned " + std::to_string(result.size()) +
                                   " series (" + SeriesName(result[0].value("metric", json())) +
                                   ", " + SeriesName(result[1].value("metric", json())) +
                                   (result.size() > 2 ? ", ..." : "") +
                                   "); one number is needed: aggregate them (sum, max)");
  }
  if (!result[0].is_object() || !result[0].contains("value")) {
    return FailedPreconditionError("a series without a value: " + Excerpt(result[0].dump()));
  }
  return SampleValue(result[0]["value"]);
}

Duration EvaluationInterval(const api::PrometheusGate& gate) {
  const auto quarter = std::chrono::milliseconds(gate.for_seconds * 1000 / 4);
  return std::clamp<Duration>(quarter, std::chrono::seconds(1), std::chrono::seconds(10));
}

bool SampleIsFresh(const PrometheusSample& sample, const api::PrometheusGate& gate, Timestamp since,
                   Timestamp now) {
  return sample.query == gate.query && sample.at >= since &&
         now < sample.at + EvaluationInterval(gate);
}

PrometheusJudgement JudgePrometheus(const api::PrometheusGate& gate, const PrometheusSample& sample,
                                    std::optional<Timestamp> ok_since) {
  PrometheusJudgement out;
  if (!sample.value) {
    out.reason = "the query could not be evaluated: " + sample.error;
    return out;
  }
  const double v = *sample.value;
  if (v > gate.max) {
    out.verdict = GateVerdict::kFail;
    out.reason = "the query " + gate.query + " is " + Number(v) + ", above max " + Number(gate.max);
    return out;
  }
  out.ok_since = ok_since && *ok_since <= sample.at ? *ok_since : sample.at;
  out.passes_at = *out.ok_since + std::chrono::seconds(gate.for_seconds);
  if (sample.at >= *out.passes_at) {
    out.verdict = GateVerdict::kPass;
    return out;
  }
  out.reason = "the query has been at or below max " + Number(gate.max) + " since " +
               FormatMillis(*out.ok_since) + "; it passes if it stays there until " +
               FormatMillis(*out.passes_at);
  return out;
}

}  // namespace meridian::rollout
