// How a Meridian binary writes its log: `--log-format text|json` and a level (`--log-level`,
// or Kubernetes-style `-v N`), set once at startup on spdlog's default logger.
//
// text: `[2026-12-05 17:00:00.123] [info] federation-apiserver: message key=value ...`
// json: one object per line, `{"ts":"2026-12-05T17:00:00.123Z","level":"info",
//        "component":"federation-apiserver","msg":"message","key":"value",...}`
// Fields come from LogFields (common/log_fields.h); a plain message has none.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace meridian::observability {

enum class LogFormat { kText, kJson };

// The formatter for `format` (exposed for tests; ConfigureLogging installs it).
std::unique_ptr<spdlog::formatter> MakeLogFormatter(LogFormat format, std::string component);

// "text" | "json"; kInvalidArgument naming `flag` otherwise.
StatusOr<LogFormat> ParseLogFormat(const std::string& value, const std::string& flag);

// The spdlog level for a `--log-level` name, overridden by `verbosity` when it is >= 0
// (Kubernetes' -v: 0-3 info, 4-5 debug, 6+ trace). kInvalidArgument for an unknown name.
StatusOr<spdlog::level::level_enum> LogLevel(const std::string& name, int verbosity);

// Where the log goes: spdlog's default (stdout), or stderr for binaries whose stdout carries
// lines other programs parse ("membersim listening on URL", "meridian-dns reloaded ...").
enum class LogDestination { kDefault, kStderr };

// Checks the values first (kInvalidArgument naming --log-format or --log-level; nothing is
// changed then), then installs the formatter and level on the default logger (a new one
// writing to stderr with kStderr). Call once at startup, before other threads log.
Status ConfigureLogging(const std::string& component, const std::string& format,
                        const std::string& level, int verbosity,
                        LogDestination destination = LogDestination::kDefault);

}  // namespace meridian::observability
