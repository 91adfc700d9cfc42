// The prometheus gate of a rollout stage (api::PrometheusGate), pure: reading Prometheus'
// /api/v1/query answer into the one number a gate needs, and judging a stage from its
// evaluations (wait, pass or fail). The HTTP call is rollout/prometheus_client.h; the stage
// machine (rollout/stage_machine.h) asks for an evaluation and calls JudgePrometheus. No I/O, no
// clock reads; thread-safe.
//
// The rules: an answer that is an error, empty, more than one series, a range vector, a string
// or NaN is a failed evaluation (never a pass: a gate must not pass on data it does not have).
// A number above `max` fails the gate at once. The gate passes when every evaluation since one
// at or below max (`prometheusOkSince`) was at or below max, and the latest one was taken
// `forSeconds` after it or later; a failed evaluation starts that window over.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/rollout.h"
#include "common/clock.h"
#include "common/status.h"

namespace meridian::rollout {

// One evaluation of a gate's query.
struct PrometheusSample {
  std::string query;
  Timestamp at;                 // when it was evaluated
  std::optional<double> value;  // nullopt: the evaluation failed
  std::string error;            // why it failed ("" when it did not)
};

// The one number in Prometheus' answer to GET /api/v1/query (HTTP status and body): a scalar's
// value, or the value of an instant vector's only sample (+Inf and -Inf are numbers). Errors
// (kFailedPrecondition) say why there is none: Prometheus' own error ("bad_data: parse error
// at char 5: ..."), not JSON, an empty vector, N series (naming the first two), another result
// type, NaN.
StatusOr<double> ParsePrometheusAnswer(int http_status, std::string_view body);

// How often a pending gate is evaluated: forSeconds / 4, at least 1 s and at most 10 s (a
// window is confirmed by about four evaluations, and a long one is not checked too rarely).
Duration EvaluationInterval(const api::PrometheusGate& gate);

// Whether `sample` may judge `gate` for a stage whose latest members were given the revision
// at `since`: it evaluated the gate's query, after `since`, less than EvaluationInterval ago.
bool SampleIsFresh(const PrometheusSample& sample, const api::PrometheusGate& gate, Timestamp since,
                   Timestamp now);

enum class GateVerdict { kWait, kPass, kFail };

struct PrometheusJudgement {
  GateVerdict verdict = GateVerdict::kWait;
  // The new prometheusOkSince: the first of the evaluations at or below max since the last
  // failed one or none ("" after a failed evaluation or a value above max).
  std::optional<Timestamp> ok_since;
  // Why it has not passed, or why it failed: names absolute times only (the message is part
  // of the stored status and must not change between evaluations that change nothing).
  std::string reason;
  std::optional<Timestamp> passes_at;  // ok_since + forSeconds, while at or below max
};

// Judges `gate` from its latest evaluation and the stored start of its window (`ok_since`).
PrometheusJudgement JudgePrometheus(const api::PrometheusGate& gate, const PrometheusSample& sample,
                                    std::optional<Timestamp> ok_since);

}  // namespace meridian::rollout
