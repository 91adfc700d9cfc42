// The prometheus gate's pure core (rollout/prometheus_gate.h): Prometheus' /api/v1/query
// answers as the real server writes them, read into one number or a reason; the judgement of
// a gate from an evaluation; and the shape check of a gate's query (api/rollout.h).
#include "rollout/prometheus_gate.h"

#include <gtest/gtest.h>

#include <cmath>

#include "api/rollout.h"
#include "rollout/stage_machine.h"

namespace meridian::rollout {
namespace {

using std::chrono::seconds;

TEST(ParsePrometheusAnswer, OneNumberOrWhyNot) {
  struct Case {
    std::string name;
    int http;
    std::string body;
    std::optional<double> value;  // nullopt: an error containing `error`
    std::string error;
  };
  const std::vector<Case> cases = {
      {"scalar", 200,
       R"({"status":"success","data":{"resultType":"scalar","result":[1765000000.123,"0.004"]}})",
       0.004, ""},
      {"one sample", 200,
       R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"web"},"value":[1765000000,"12"]}]}})",
       12, ""},
      {"+Inf is a number", 200,
       R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}})",
       HUGE_VAL, ""},
      {"-Inf is a number", 200,
       R"({"status":"success","data":{"resultType":"scalar","result":[1,"-Inf"]}})", -HUGE_VAL, ""},
      {"warnings do not matter", 200,
       R"({"status":"success","warnings":["x"],"data":{"resultType":"scalar","result":[1,"1e-3"]}})",
       0.001, ""},
      {"no series", 200, R"({"status":"success","data":{"resultType":"vector","result":[]}})",
       std::nullopt, "the query returned no series"},
      {"three series", 200,
       R"({"status":"success","data":{"resultType":"vector","result":[)"
       R"({"metric":{"__name__":"up","job":"a"},"value":[1,"1"]},)"
       R"({"metric":{"__name__":"up","job":"b"},"value":[1,"0"]},)"
       R"({"metric":{"__name__":"up","job":"c"},"value":[1,"1"]}]}})",
       std::nullopt,
       "the query returned 3 series (up{job=\"a\"}, up{job=\"b\"}, ...); one number is needed"},
      {"a range vector", 200,
       R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}})",
       std::nullopt, "the query returned a matrix"},
      {"a string", 200, R"({"status":"success","data":{"resultType":"string","result":[1,"x"]}})",
       std::nullopt, "the query returned a string"},
      {"NaN", 200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}})",
       std::nullopt, "the value is NaN, not a number"},
      {"a value that is no number", 200,
       R"({"status":"success","data":{"resultType":"scalar","result":[1,"12abc"]}})", std::nullopt,
       "the value is 12abc"},
      {"a bad query", 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"})",
       std::nullopt,
       "Prometheus answered HTTP 400: bad_data: invalid parameter \"query\": 1:5: parse error"},
      {"a timeout", 503,
       R"({"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"})",
       std::nullopt, "HTTP 503: timeout: query timed out"},
      {"a proxy's page", 502, "<html>\n<body>Bad Gateway</body></html>", std::nullopt,
       "not a Prometheus API answer (HTTP 502): <html> <body>Bad Gateway"},
      {"empty", 200, "", std::nullopt, "not a Prometheus API answer (HTTP 200)"},
      {"a sample of the wrong shape", 200,
       R"({"status":"success","data":{"resultType":"scalar","result":[1,0.5]}})", std::nullopt,
       "a sample is not [time, \"value\"]"},
  };
  for (const Case& c : cases) {
    StatusOr<double> got = ParsePrometheusAnswer(c.http, c.body);
    if (c.value) {
      ASSERT_TRUE(got.ok()) << c.name << ": " << got.status().ToString();
      EXPECT_EQ(got.value(), *c.value) << c.name;
    } else {
      ASSERT_FALSE(got.ok()) << c.name << " gave " << got.value();
      EXPECT_NE(got.status().message().find(c.error), std::string::npos)
          << c.name << ": " << got.status().message();
    }
  }
}

TEST(PrometheusGate, EvaluationIntervalIsAQuarterOfTheWindowBetween1And10Seconds) {
  const std::vector<std::pair<int64_t, Duration>> cases = {
      {0, seconds(1)},  {2, seconds(1)},   {6, std::chrono::milliseconds(1500)},
      {20, seconds(5)}, {40, seconds(10)}, {3600, seconds(10)}};
  for (const auto& [for_seconds, interval] : cases) {
    EXPECT_EQ(EvaluationInterval({"up", 1, for_seconds}), interval) << for_seconds;
  }
}

TEST(PrometheusGate, ASampleIsFreshForItsQueryAfterTheBatchWithinTheInterval) {
  const api::PrometheusGate gate{"up", 1, 20};  // interval 5 s
  const Timestamp t0 = Timestamp() + seconds(1000);
  const PrometheusSample sample{"up", t0, 1.0, ""};
  EXPECT_TRUE(SampleIsFresh(sample, gate, t0, t0));
  EXPECT_TRUE(SampleIsFresh(sample, gate, t0 - seconds(1), t0 + seconds(4)));
  EXPECT_FALSE(SampleIsFresh(sample, gate, t0, t0 + seconds(5)));               // too old
  EXPECT_FALSE(SampleIsFresh(sample, gate, t0 + seconds(1), t0 + seconds(1)));  // before batch
  EXPECT_FALSE(SampleIsFresh(sample, {"up == 1", 1, 20}, t0, t0));              // another query
}

TEST(PrometheusGate, JudgedFromTheLatestEvaluationAndTheWindowsStart) {
  const api::PrometheusGate gate{"errors", 0.01, 60};
  const Timestamp t0 = Timestamp() + seconds(1000);
  struct Case {
    std::string name;
    std::optional<double> value;  // nullopt: failed evaluation
    Timestamp at;
    std::optional<Timestamp> ok_since;
    GateVerdict verdict;
    std::optional<Timestamp> new_ok_since;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"first good value starts the window", 0.001, t0, std::nullopt, GateVerdict::kWait, t0,
       "at or below max 0.01 since " + FormatMillis(t0) + "; it passes if it stays there until " +
           FormatMillis(t0 + seconds(60))},
      {"at max is not above it", 0.01, t0 + seconds(30), t0, GateVerdict::kWait, t0, ""},
      {"the window is over", 0.0, t0 + seconds(60), t0, GateVerdict::kPass, t0, ""},
      {"above max fails", 0.02, t0 + seconds(59), t0, GateVerdict::kFail, std::nullopt,
       "the query errors is 0.02, above max 0.01"},
      {"+Inf fails", HUGE_VAL, t0, std::nullopt, GateVerdict::kFail, std::nullopt, "is inf"},
      {"a failed evaluation starts the window over", std::nullopt, t0 + seconds(70), t0,
       GateVerdict::kWait, std::nullopt, "the query could not be evaluated: boom"},
      {"a window from the future is not trusted", 0.0, t0, t0 + seconds(5), GateVerdict::kWait, t0,
       ""},
  };
  for (const Case& c : cases) {
    const PrometheusSample sample{"errors", c.at, c.value, c.value ? "" : "boom"};
    const PrometheusJudgement j = JudgePrometheus(gate, sample, c.ok_since);
    EXPECT_EQ(j.verdict, c.verdict) << c.name;
    EXPECT_EQ(j.ok_since, c.new_ok_since) << c.name;
    EXPECT_NE(j.reason.find(c.reason), std::string::npos) << c.name << ": " << j.reason;
    if (c.verdict == GateVerdict::kPass) EXPECT_EQ(j.passes_at, t0 + seconds(60)) << c.name;
  }
}

TEST(PromQlShapeError, RefusesWhatCannotBeAQuery) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))",
       ""},
      {"up{job=\"a)\"} == 1 # a comment with ( in it", ""},
      {"label_replace(up, \"x\", \"$1\", 'job', `(.*)\\`)", ""},
      {"", "must not be empty"},
      {"  \n", "must not be empty"},
      {"sum(rate(x[5m])", "'(' is not closed"},
      {"up{job=\"a\"", "'{' is not closed"},
      {"rate(x[5m)]", "')' at offset 9 does not close '['"},
      {"up)", "')' at offset 2 closes nothing"},
      {"up{job=\"a}", "string opened with \" at offset 7 is not closed"},
      {"up{job='a\\'}", "string opened with ' at offset 7 is not closed"},
      {std::string("up\x01"), "control character at offset 2"},
  };
  for (const auto& [query, error] : cases) {
    const std::string got = api::PromQlShapeError(query);
    if (error.empty()) {
      EXPECT_EQ(got, "") << query;
    } else {
      EXPECT_NE(got.find(error), std::string::npos) << query << ": " << got;
    }
  }
}

}  // namespace
}  // namespace meridian::rollout
