#include "observability/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/log_fields.h"

namespace meridian::observability {

namespace {

// What stands between `begin` and a separator, without the space LogFields put before it.
std::string_view BeforeSeparator(std::string_view payload, size_t begin, size_t separator) {
  size_t end = separator == std::string_view::npos ? payload.size() : separator;
  if (separator != std::string_view::npos && end > begin && payload[end - 1] == ' ') --end;
  return payload.substr(begin, end - begin);
}

// Splits a payload into its message and fields (LogFields' layout).
template <typename OnField>
std::string_view SplitFields(std::string_view payload, const OnField& on_field) {
  const size_t first = payload.find(kLogFieldSeparator);
  const std::string_view message = BeforeSeparator(payload, 0, first);
  for (size_t at = first; at != std::string_view::npos;) {
    const size_t next = payload.find(kLogFieldSeparator, at + 1);
    const std::string_view field = BeforeSeparator(payload, at + 1, next);
    const size_t eq = field.find('=');
    if (eq != std::string_view::npos) on_field(field.substr(0, eq), field.substr(eq + 1));
    at = next;
  }
  return message;
}

// "2026-12-05 17:00:00.123" (local-free: UTC) or the RFC 3339 form "2026-12-05T17:00:00.123Z".
std::string Timestamp(const spdlog::log_clock::time_point& t, bool rfc3339) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()) % 1000;
  const std::time_t secs = spdlog::log_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, rfc3339 ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03d%s", buf, static_cast<int>(ms.count()),
                rfc3339 ? "Z" : "");
  return out;
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) return true;
  }
  return false;
}

class TextFormatter final : public spdlog::formatter {
 public:
  explicit TextFormatter(std::string component) : component_(std::move(component)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "[" + Timestamp(msg.time, false) + "] [";
    const auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += "] ";
    line += component_;
    line += ": ";
    std::string fields;
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const std::string_view message =
        SplitFields(payload, [&](std::string_view k, std::string_view v) {
          fields += ' ';
          fields += k;
          fields += '=';
          fields += NeedsQuotes(v)
                        ? nlohmann::json(std::string(v))
                              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                        : std::string(v);
        });
    line += message;
    line += fields;
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>(component_);
  }

 private:
  std::string component_;
};

class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string component) : component_(std::move(component)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    // An ordered object would need nlohmann::ordered_json; keys first by hand instead, so
    // every line starts ts, level, component, msg (what people grep and tools expect).
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    nlohmann::json extra = nlohmann::json::object();
    const std::string_view message =
        SplitFields(payload, [&](std::string_view k, std::string_view v) {
          const std::string key(k);
          if (key == "ts" || key == "level" || key == "component" || key == "msg") return;
          extra[key] = std::string(v);
        });
    const auto level = spdlog::level::to_string_view(msg.level);
    auto str = [](std::string_view s) {
      return nlohmann::json(std::string(s))
          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    std::string line = "{\"ts\":\"" + Timestamp(msg.time, true) +
                       "\",\"level\":" + str(std::string_view(level.data(), level.size())) +
                       ",\"component\":" + str(component_) + ",\"msg\":" + str(message);
    for (const auto& [k, v] : extra.items()) {
      line += "," + str(k) + ":" + v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(component_);
  }

 private:
  std::string component_;
};

}  // namespace

std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format, std::string component) {
  if (format == LogFormat::kJson) return std::make_unique<JsonFormatter>(std::move(component));
  return std::make_unique<TextFormatter>(std::move(component));
}

StatusOr<LogFormat> ParseLogFormat(const std::string& value, const std::string& flag) {
  if (value == "text") return LogFormat::kText;
  if (value == "json") return LogFormat::kJson;
  return InvalidArgumentError(flag + ": \"" + value + "\" is not a log format (text or json)");
}

StatusOr<spdlog::level::level_enum> LogLevel(const std::string& name, int verbosity) {
  if (verbosity >= 0) {
    if (verbosity >= 6) return spdlog::level::trace;
    if (verbosity >= 4) return spdlog::level::debug;
    return spdlog::level::info;
  }
  for (const char* known : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (name == known) return spdlog::level::from_str(name);
  }
  return InvalidArgumentError("--log-level: \"" + name +
                              "\" is not a level (trace, debug, info, warn, error, critical, off)");
}

Status ConfigureLogging(const std::string& component, const std::string& format,
                        const std::string& level, int verbosity, LogDestination destination) {
  StatusOr<LogFormat> f = ParseLogFormat(format, "--log-format");
  if (!f.ok()) return f.status();
  StatusOr<spdlog::level::level_enum> l = LogLevel(level, verbosity);
  if (!l.ok()) return l.status();
  if (destination == LogDestination::kStderr) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        component, std::make_shared<spdlog::sinks::stderr_sink_mt>()));
  }
  spdlog::set_formatter(MakeLogFormatter(*f, component));
  spdlog::set_level(*l);
  return Status::Ok();
}

}  // namespace meridian::observability
