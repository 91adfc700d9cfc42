// LogCapture: what the process logs through spdlog's default logger while it lives, line by
// line (the payload as written, fields in LogFields' layout), for tests that count or read log
// lines. Installs a fresh default logger at `level` and puts the previous one back on
// destruction.
//
// Thread-safety: lines may be logged from any thread; Lines() may be called meanwhile.
#pragma once

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::test_env {

class LogCapture {
 public:
  explicit LogCapture(spdlog::level::level_enum level = spdlog::level::trace)
      : previous_(spdlog::default_logger()), sink_(std::make_shared<Sink>()) {
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(level);
    spdlog::set_default_logger(std::move(logger));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Every payload logged so far, in order.
  std::vector<std::string> Lines() const { return sink_->Lines(); }

  // How many lines contain every one of `parts`.
  int Count(std::initializer_list<std::string_view> parts) const {
    int n = 0;
    for (const std::string& line : Lines()) {
      n += std::all_of(parts.begin(), parts.end(),
                       [&](std::string_view p) { return line.find(p) != std::string::npos; });
    }
    return n;
  }

 private:
  class Sink final : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::vector<std::string> Lines() {
      std::lock_guard lock(mutex_);
      return lines_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      lines_.emplace_back(msg.payload.data(), msg.payload.size());
    }
    void flush_() override {}

   private:
    std::vector<std::string> lines_;  // guarded by base_sink's mutex_
  };

  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<Sink> sink_;
};

}  // namespace meridian::test_env
