// Signed checkpoints and compaction of the residency evidence ledger
// (residency/ledger_checkpoint.h). Runs only when --evidence-signing-key-file is given.
#include <CLI/CLI.hpp>

#include "federation-apiserver/controller_manager.h"
#include "residency/ledger_checkpoint.h"

namespace meridian::apiserver {
namespace {

std::string signing_key_file;
std::string checkpoint_interval = "1h";
std::string retention = "0";

// "90s", "30m", "24h", "720h"; "0" is zero.
bool ParseDuration(const std::string& text, std::chrono::milliseconds* out) {
  if (text == "0") {
    *out = std::chrono::milliseconds(0);
    return true;
  }
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (...) {
    return false;
  }
  const std::string unit = text.substr(used);
  if (n < 0) return false;
  if (unit == "ms") *out = std::chrono::milliseconds(n);
  else if (unit == "s") *out = std::chrono::seconds(n);
  else if (unit == "m") *out = std::chrono::minutes(n);
  else if (unit == "h") *out = std::chrono::hours(n);
  else return false;
  return true;
}

class Running : public RunningController {
 public:
  explicit Running(std::unique_ptr<residency::EvidenceCheckpointer> c) : c_(std::move(c)) {}
  void Stop() override {
    if (c_) c_->Stop();
  }

 private:
  std::unique_ptr<residency::EvidenceCheckpointer> c_;
};

const ControllerRegistration kEvidenceCheckpoint({
    .name = "evidence-checkpoint",
    .description = "seals the residency evidence ledger with signed checkpoints and compacts it "
                   "(needs --evidence-signing-key-file)",
    .start_order = 36,
    .add_flags =
        [](CLI::App& app) {
          app.add_option("--evidence-signing-key-file", signing_key_file,
                         "Ed25519 private key (PEM) that signs residency evidence checkpoints "
                         "(fedctl admin init writes evidence-signing.key); none: no checkpoints");
          app.add_option("--evidence-checkpoint-interval", checkpoint_interval,
                         "Seal the evidence ledger this often (e.g. 1h)")
              ->capture_default_str();
          app.add_option("--evidence-retention", retention,
                         "Delete evidence entries sealed by a checkpoint at least this old "
                         "(e.g. 2160h); 0 keeps every entry")
              ->capture_default_str();
        },
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      residency::EvidenceCheckpointOptions options;
      if (!ParseDuration(checkpoint_interval, &options.interval) ||
          options.interval.count() <= 0) {
        return InvalidArgumentError("--evidence-checkpoint-interval: \"" + checkpoint_interval +
                                    "\" is not a positive duration such as 1h or 30m");
      }
      if (!ParseDuration(retention, &options.retention)) {
        return InvalidArgumentError("--evidence-retention: \"" + retention +
                                    "\" is not a duration such as 2160h (or 0)");
      }
      if (signing_key_file.empty()) {
        if (options.retention.count() > 0) {
          return InvalidArgumentError(
              "--evidence-retention needs --evidence-signing-key-file: entries are only "
              "removed once a signed checkpoint seals them");
        }
        return std::unique_ptr<RunningController>(new Running(nullptr));
      }
      MERIDIAN_ASSIGN_OR_RETURN(residency::EvidenceSigningKey key,
                                residency::EvidenceSigningKey::FromFile(signing_key_file));
      options.poll = std::min<std::chrono::milliseconds>(options.interval / 4,
                                                         std::chrono::seconds(10));
      options.poll = std::max<std::chrono::milliseconds>(options.poll, std::chrono::milliseconds(100));
      auto checkpointer = std::make_unique<residency::EvidenceCheckpointer>(
          c.objects, c.clock, std::move(key), options);
      MERIDIAN_RETURN_IF_ERROR(checkpointer->Start());
      return std::unique_ptr<RunningController>(new Running(std::move(checkpointer)));
    },
    .check_not_selected = []() -> Status {
      if (signing_key_file.empty()) return Status::Ok();
      return InvalidArgumentError(
          "--evidence-signing-key-file is given but the evidence-checkpoint controller is not "
          "selected (--controllers)");
    },
});

}  // namespace
}  // namespace meridian::apiserver
