#include "cli/drill_request.h"

#include <regex>

#include "api/types.h"
#include "scheduling/placement_inputs.h"

namespace meridian::cli {

using nlohmann::json;

namespace {

// "90s", "5m", "1h30m" or bare seconds, between `min_seconds` and 24 h; errors name `flag`.
StatusOr<int64_t> ParseSeconds(const std::string& text, const std::string& flag, int64_t min_seconds) {
  static const std::regex whole(R"((\d+[hms])+|\d+)");
  static const std::regex part(R"((\d+)([hms]))");
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError(flag + " \"" + text + "\": " + why);
  };
  if (!std::regex_match(text, whole)) return bad("want a duration such as 90s, 5m, 1h30m or seconds");
  int64_t seconds = 0;
  if (text.find_first_of("hms") == std::string::npos) {
    if (text.size() > 6) return bad("at most 24h");
    seconds = std::stoll(text);
  } else {
    for (auto it = std::sregex_iterator(text.begin(), text.end(), part); it != std::sregex_iterator(); ++it) {
      const std::string digits = (*it)[1];
      if (digits.size() > 6) return bad("at most 24h");
      const int64_t n = std::stoll(digits);
      const char unit = (*it)[2].str()[0];
      seconds += unit == 'h' ? n * 3600 : unit == 'm' ? n * 60 : n;
    }
  }
  if (seconds < min_seconds) return bad("at least " + std::to_string(min_seconds) + "s");
  if (seconds > 86400) return bad("at most 24h");
  return seconds;
}

}  // namespace

StatusOr<int64_t> ParseDrillDuration(const std::string& text) {
  return ParseSeconds(text, "--duration", 1);
}

StatusOr<int64_t> ParseObserveReturn(const std::string& text) {
  return ParseSeconds(text, "--observe-return", 0);
}

StatusOr<int32_t> ParsePercentFlag(const std::string& text, const std::string& flag) {
  static const std::regex re(R"((\d{1,3})%?)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) {
    return InvalidArgumentError(flag + " \"" + text + "\": want a percentage such as 80%");
  }
  const int32_t n = std::stoi(m[1]);
  if (n < 1 || n > 100) {
    return InvalidArgumentError(flag + " \"" + text + "\": want 1% to 100%");
  }
  return n;
}

namespace {

json TargetJson(const api::DrillTarget& target) {
  json t = json::object();
  if (!target.zone.empty()) t["zone"] = target.zone;
  if (!target.region.empty()) t["region"] = target.region;
  if (!target.cluster.empty()) t["cluster"] = target.cluster;
  return t;
}

// spec.schedule from --schedule, --time-zone, --window; null without --schedule.
StatusOr<json> ScheduleJson(const DrillRunFlags& flags) {
  if (flags.schedule.empty()) {
    if (!flags.time_zone.empty()) return InvalidArgumentError("--time-zone needs --schedule");
    if (!flags.window.empty()) return InvalidArgumentError("--window needs --schedule");
    return json(nullptr);
  }
  json schedule = {{"cron", flags.schedule}};
  if (!flags.time_zone.empty()) schedule["timeZone"] = flags.time_zone;
  if (!flags.window.empty()) {
    static const std::regex re(R"(([0-9]{1,2}:[0-9]{2})-([0-9]{1,2}:[0-9]{2}))");
    std::smatch m;
    if (!std::regex_match(flags.window, m, re)) {
      return InvalidArgumentError("--window \"" + flags.window +
                                  "\": want START-END local times such as 02:00-05:00");
    }
    schedule["window"] = {{"start", m[1].str()}, {"end", m[2].str()}};
  }
  return schedule;
}

}  // namespace

StatusOr<json> ParseDrillStep(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return InvalidArgumentError("--step \"" + text +
                                "\": want TARGET:DURATION such as zone=eu-west-1a:2m");
  }
  StatusOr<api::DrillTarget> target = scheduling::ParseFailureTarget(text.substr(0, colon));
  if (!target.ok()) {
    return InvalidArgumentError("--step \"" + text + "\": " + target.status().message());
  }
  StatusOr<int64_t> seconds =
      ParseSeconds(text.substr(colon + 1), "--step \"" + text + "\" duration", 1);
  if (!seconds.ok()) return seconds.status();
  return json{{"target", TargetJson(*target)}, {"durationSeconds", *seconds}};
}

StatusOr<json> BuildDrill(const DrillRunFlags& flags) {
  if (flags.target.empty() && flags.steps.empty()) {
    return InvalidArgumentError(
        "--target is required (zone=ZONE, region=REGION or cluster=CLUSTER), or --step for a "
        "game day");
  }
  if (!flags.target.empty() && !flags.steps.empty()) {
    return InvalidArgumentError(
        "--target and --step: give one (a game day's steps carry their "
        "own targets)");
  }
  MERIDIAN_ASSIGN_OR_RETURN(json schedule, ScheduleJson(flags));
  json steps = json::array();
  for (const std::string& step : flags.steps) {
    MERIDIAN_ASSIGN_OR_RETURN(json parsed, ParseDrillStep(step));
    steps.push_back(std::move(parsed));
  }
  StatusOr<api::DrillTarget> target = flags.target.empty()
                                          ? StatusOr<api::DrillTarget>(api::DrillTarget{})
                                          : scheduling::ParseFailureTarget(flags.target);
  if (!target.ok()) return InvalidArgumentError("--target: " + target.status().message());
  if (flags.mode != "simulate" && flags.mode != "live") {
    return InvalidArgumentError("--mode \"" + flags.mode + "\": want simulate or live");
  }
  if (flags.inject_fault && flags.mode != "live") {
    return InvalidArgumentError("--inject-fault needs --mode live (a simulation changes nothing)");
  }
  if (!flags.failure.empty()) {
    if (flags.failure != "declared" && flags.failure != "injected") {
      return InvalidArgumentError("--failure \"" + flags.failure + "\": want declared or injected");
    }
    if (flags.mode != "live") {
      return InvalidArgumentError("--failure needs --mode live (a simulation changes nothing)");
    }
    if (flags.inject_fault && flags.failure != "injected") {
      return InvalidArgumentError("--inject-fault contradicts --failure " + flags.failure);
    }
  }
  MERIDIAN_ASSIGN_OR_RETURN(int64_t duration, ParseDrillDuration(flags.duration));

  json t = TargetJson(*target);
  json spec = {{"mode", flags.mode}};
  if (steps.empty()) {
    spec["target"] = t;
    spec["durationSeconds"] = duration;
  } else {
    spec["steps"] = std::move(steps);
  }
  if (!schedule.is_null()) spec["schedule"] = std::move(schedule);
  if (!flags.abort_below.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(int32_t percent, ParseAbortBelow(flags.abort_below));
    spec["abortConditions"] = {{"minAvailabilityPercent", percent}};
  }
  if (!flags.slo.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(int32_t percent, ParsePercentFlag(flags.slo, "--slo"));
    spec["slo"] = {{"minAvailabilityPercent", percent}};
  }
  if (flags.inject_fault) spec["injectFault"] = true;
  if (!flags.failure.empty()) spec["failure"] = flags.failure;
  if (!flags.observe_return.empty()) {
    if (flags.mode != "live") {
      return InvalidArgumentError("--observe-return needs --mode live (a simulation changes nothing)");
    }
    MERIDIAN_ASSIGN_OR_RETURN(int64_t observe, ParseObserveReturn(flags.observe_return));
    spec["observeReturnSeconds"] = observe;
  }

  json metadata = json::object();
  if (!flags.name.empty()) {
    metadata["name"] = flags.name;
  } else if (t.empty()) {
    metadata["generateName"] = "gameday-";
  } else {
    // A name must be a DNS subdomain: the target's value lowercased, dots kept.
    std::string value = t.begin().value().get<std::string>();
    for (char& c : value) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '-';
    }
    metadata["generateName"] = "drill-" + value.substr(0, 40) + "-";
  }
  return json{{"apiVersion", std::string(api::kGroup) + "/" + api::kVersion},
              {"kind", "FailoverDrill"},
              {"metadata", metadata},
              {"spec", spec}};
}

json WithAbortRequested(json drill) {
  drill["metadata"]["annotations"][kDrillAbortAnnotation] = "true";
  return drill;
}

bool DrillPhaseFinal(const std::string& phase) {
  return phase == "Completed" || phase == "Aborted" || phase == "Failed";
}

bool DrillWatchingReturn(const json& drill) {
  if (!drill.is_object()) return false;
  auto status = drill.find("status");
  if (status == drill.end() || !status->is_object()) return false;
  auto report = status->find("report");
  if (report == status->end() || !report->is_object()) return false;
  auto state = report->find("returnObservation");
  return state != report->end() && *state == "watching";
}

}  // namespace meridian::cli
