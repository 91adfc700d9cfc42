#include "federation-apiserver/audit/audit.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "api/yaml.h"
#include "common/json_parse.h"
#include "federation-apiserver/rbac/authorizer.h"

namespace meridian::apiserver::audit {
namespace {

using nlohmann::json;
namespace rest = apimachinery::rest;

const std::set<std::string>& Stages() {
  static const std::set<std::string> kStages = {"RequestReceived", "ResponseStarted",
                                                "ResponseComplete", "Panic"};
  return kStages;
}

bool ParseLevel(const json& value, Level* level) {
  if (!value.is_string()) return false;
  const std::string s = value.get<std::string>();
  if (s == "None")
    *level = Level::kNone;
  else if (s == "Metadata")
    *level = Level::kMetadata;
  else if (s == "Request")
    *level = Level::kRequest;
  else if (s == "RequestResponse")
    *level = Level::kRequestResponse;
  else
    return false;
  return true;
}

// Reads a list of strings at object[key] into `out`; problems go to `errors` under `path`.
void StringList(const json& object, const std::string& key, const std::string& path,
                std::vector<std::string>* out, FieldErrors* errors) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return;
  if (!it->is_array()) {
    errors->push_back({JoinPath(path, key), "must be a list of strings"});
    return;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) {
      errors->push_back({JoinPath(path, key + "[" + std::to_string(i) + "]"), "must be a string"});
    } else {
      out->push_back((*it)[i].get<std::string>());
    }
  }
}

void CheckKeys(const json& object, const std::string& path, const std::set<std::string>& allowed,
               FieldErrors* errors) {
  for (const auto& [key, value] : object.items()) {
    if (!allowed.count(key)) errors->push_back({JoinPath(path, key), "unknown field"});
  }
}

void CheckStages(const std::vector<std::string>& stages, const std::string& path,
                 FieldErrors* errors) {
  for (size_t i = 0; i < stages.size(); ++i) {
    if (!Stages().count(stages[i])) {
      errors->push_back({path + "[" + std::to_string(i) + "]",
                         "unknown stage \"" + stages[i] +
                             "\" (RequestReceived, ResponseStarted, ResponseComplete, Panic)"});
    }
  }
}

bool Matches(const std::vector<std::string>& list, const std::string& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

bool RuleMatches(const PolicyRule& rule, const rbac::Attributes& a) {
  if (!Matches(rule.users, a.user)) return false;
  if (!rule.user_groups.empty() &&
      std::none_of(a.groups.begin(), a.groups.end(),
                   [&](const std::string& g) { return Matches(rule.user_groups, g); })) {
    return false;
  }
  if (!Matches(rule.verbs, a.verb)) return false;
  if (!a.resource_request) {
    if (!rule.resources.empty() || !rule.namespaces.empty()) return false;
    if (rule.non_resource_urls.empty()) return true;
    return std::any_of(rule.non_resource_urls.begin(), rule.non_resource_urls.end(),
                       [&](const std::string& u) {
                         if (!u.empty() && u.back() == '*') {
                           return a.path.rfind(u.substr(0, u.size() - 1), 0) == 0;
                         }
                         return u == a.path;
                       });
  }
  if (!rule.non_resource_urls.empty()) return false;
  if (!rule.namespaces.empty() && !Matches(rule.namespaces, a.ns)) return false;
  if (rule.resources.empty()) return true;
  const std::string combined =
      a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  for (const GroupResources& gr : rule.resources) {
    if (gr.group != a.api_group) continue;
    if (!gr.resource_names.empty() && !Matches(gr.resource_names, a.name)) continue;
    if (gr.resources.empty()) return true;
    for (const std::string& r : gr.resources) {
      if (r == combined || r == "*" || (r == a.resource + "/*") ||
          (!a.subresource.empty() && r == "*/" + a.subresource)) {
        return true;
      }
    }
  }
  return false;
}

std::string NewAuditId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string MicroTime(Timestamp t) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::string base = FormatRfc3339(Timestamp(std::chrono::seconds(micros / 1000000)));
  char frac[32];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(micros % 1000000));
  // FormatRfc3339 ends in 'Z': put the fraction before it.
  return base.substr(0, base.size() - 1) + frac + "Z";
}

}  // namespace

const char* LevelName(Level level) {
  switch (level) {
    case Level::kNone:
      return "None";
    case Level::kMetadata:
      return "Metadata";
    case Level::kRequest:
      return "Request";
    case Level::kRequestResponse:
      return "RequestResponse";
  }
  return "None";
}

Policy MetadataPolicy() {
  Policy p;
  p.rules.push_back(PolicyRule{Level::kMetadata, {}, {}, {}, {}, {}, {}, {}});
  return p;
}

StatusOr<Policy> ParsePolicy(const std::string& text, const std::string& source) {
  StatusOr<std::vector<api::YamlDocument>> docs = api::ParseYamlDocuments(text, source);
  if (!docs.ok()) return docs.status();
  if (docs->size() != 1) {
    return InvalidArgumentError(source + ": expected one audit.k8s.io/v1 Policy document, found " +
                                std::to_string(docs->size()));
  }
  const json& doc = (*docs)[0].value;
  FieldErrors errors;
  Policy policy;
  if (!doc.is_object()) {
    errors.push_back({"", "must be an object"});
  } else {
    CheckKeys(doc, "",
              {"apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields"},
              &errors);
    if (doc.value("apiVersion", "") != "audit.k8s.io/v1") {
      errors.push_back({"apiVersion", "must be audit.k8s.io/v1"});
    }
    if (doc.value("kind", "") != "Policy") errors.push_back({"kind", "must be Policy"});
    StringList(doc, "omitStages", "", &policy.omit_stages, &errors);
    CheckStages(policy.omit_stages, "omitStages", &errors);
    const json rules = doc.value("rules", json::array());
    if (!rules.is_array()) errors.push_back({"rules", "must be a list"});
    for (size_t i = 0; rules.is_array() && i < rules.size(); ++i) {
      const std::string path = "rules[" + std::to_string(i) + "]";
      const json& r = rules[i];
      if (!r.is_object()) {
        errors.push_back({path, "must be an object"});
        continue;
      }
      CheckKeys(r, path,
                {"level", "users", "userGroups", "verbs", "resources", "namespaces",
                 "nonResourceURLs", "omitStages", "omitManagedFields"},
                &errors);
      PolicyRule rule;
      if (!r.contains("level")) {
        errors.push_back({path + ".level", "required (None, Metadata, Request, RequestResponse)"});
      } else if (!ParseLevel(r["level"], &rule.level)) {
        errors.push_back({path + ".level", "unknown level " + r["level"].dump() +
                                               " (None, Metadata, Request, RequestResponse)"});
      }
      StringList(r, "users", path, &rule.users, &errors);
      StringList(r, "userGroups", path, &rule.user_groups, &errors);
      StringList(r, "verbs", path, &rule.verbs, &errors);
      StringList(r, "namespaces", path, &rule.namespaces, &errors);
      StringList(r, "nonResourceURLs", path, &rule.non_resource_urls, &errors);
      StringList(r, "omitStages", path, &rule.omit_stages, &errors);
      CheckStages(rule.omit_stages, path + ".omitStages", &errors);
      if (r.contains("resources")) {
        const json& rs = r["resources"];
        if (!rs.is_array()) errors.push_back({path + ".resources", "must be a list"});
        for (size_t j = 0; rs.is_array() && j < rs.size(); ++j) {
          const std::string rpath = path + ".resources[" + std::to_string(j) + "]";
          if (!rs[j].is_object()) {
            errors.push_back({rpath, "must be an object"});
            continue;
          }
          CheckKeys(rs[j], rpath, {"group", "resources", "resourceNames"}, &errors);
          GroupResources gr;
          if (rs[j].contains("group") && !rs[j]["group"].is_string()) {
            errors.push_back({rpath + ".group", "must be a string"});
          } else {
            gr.group = rs[j].value("group", "");
          }
          StringList(rs[j], "resources", rpath, &gr.resources, &errors);
          StringList(rs[j], "resourceNames", rpath, &gr.resource_names, &errors);
          rule.resources.push_back(std::move(gr));
        }
      }
      if (!rule.non_resource_urls.empty() &&
          (!rule.resources.empty() || !rule.namespaces.empty())) {
        errors.push_back(
            {path + ".nonResourceURLs", "cannot be combined with resources or namespaces"});
      }
      policy.rules.push_back(std::move(rule));
    }
  }
  if (!errors.empty()) {
    std::string msg = source + ": ";
    for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "; " : "") + errors[i].ToString();
    return InvalidArgumentError(msg);
  }
  return policy;
}

Level LevelFor(const Policy& policy, const rbac::Attributes& attrs,
               std::vector<std::string>* omit_stages) {
  for (const PolicyRule& rule : policy.rules) {
    if (!RuleMatches(rule, attrs)) continue;
    if (omit_stages != nullptr) {
      *omit_stages = policy.omit_stages;
      omit_stages->insert(omit_stages->end(), rule.omit_stages.begin(), rule.omit_stages.end());
    }
    Level level = rule.level;
    // A Secret's body is its credential: never above Metadata.
    if (attrs.resource_request && attrs.api_group.empty() && attrs.resource == "secrets" &&
        level > Level::kMetadata) {
      level = Level::kMetadata;
    }
    return level;
  }
  return Level::kNone;
}

StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditLogOptions& options,
                                                   const Clock& clock) {
  if (options.path.empty()) return InvalidArgumentError("--audit-log-path: empty");
  if (options.max_size_mb < 0) return InvalidArgumentError("--audit-log-maxsize: must be >= 0");
  std::unique_ptr<AuditLog> log(new AuditLog(options, clock));
  // Create 0600 first: the log names users and objects.
  int fd = ::open(options.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return InvalidArgumentError("--audit-log-path: cannot open " + options.path + ": " +
                                std::strerror(errno));
  }
  ::close(fd);
  log->out_.open(options.path, std::ios::app | std::ios::binary);
  if (!log->out_) return InvalidArgumentError("--audit-log-path: cannot open " + options.path);
  std::error_code ec;
  log->size_ = static_cast<int64_t>(std::filesystem::file_size(options.path, ec));
  if (options.batch) {
    if (options.batch_buffer_events == 0) {
      return InvalidArgumentError("--audit-log-batch-buffer-size: must be > 0");
    }
    AuditLog* raw = log.get();
    log->writer_ = std::thread([raw] { raw->WriterLoop(); });
  }
  return log;
}

void AuditLog::RotateLocked() {
  out_.close();
  std::string backup = options_.path + "." + MicroTime(clock_.Now());
  std::error_code ec;
  std::filesystem::rename(options_.path, backup, ec);
  if (ec) spdlog::error("audit log: rotating {}: {}", options_.path, ec.message());
  if (options_.max_backups > 0) {
    std::filesystem::path p(options_.path);
    std::vector<std::string> backups;
    const std::string prefix = p.filename().string() + ".";
    for (const auto& entry : std::filesystem::directory_iterator(
             p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path(), ec)) {
      std::string name = entry.path().filename().string();
      if (name.rfind(prefix, 0) == 0) backups.push_back(entry.path().string());
    }
    // The names end in an RFC 3339 time: lexical order is age order.
    std::sort(backups.begin(), backups.end());
    for (size_t i = 0; i + options_.max_backups < backups.size(); ++i) {
      std::filesystem::remove(backups[i], ec);
    }
  }
  int fd = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  out_.open(options_.path, std::ios::app | std::ios::binary);
  size_ = 0;
}

void AuditLog::Write(const json& event) {
  std::string line = event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (options_.batch) {
    std::unique_lock lock(mu_);
    written_.wait(lock, [&] { return queue_.size() < options_.batch_buffer_events; });
    queue_.push_back(std::move(line));
    ++queued_total_;
    lock.unlock();
    queued_.notify_one();
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  AppendLocked(line);
}

void AuditLog::AppendLocked(const std::string& lines) {
  const int64_t limit = options_.max_size_mb * 1024 * 1024;
  if (limit > 0 && size_ > 0 && size_ + static_cast<int64_t>(lines.size()) > limit) {
    RotateLocked();
  }
  out_ << lines;
  out_.flush();
  if (!out_) {
    spdlog::error("audit log: writing {} failed", options_.path);
    out_.clear();
    return;
  }
  size_ += static_cast<int64_t>(lines.size());
}

void AuditLog::WriterLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    queued_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, and everything is written
    std::vector<std::string> batch;
    batch.swap(queue_);
    lock.unlock();
    written_.notify_all();  // room in the queue again
    // One append per line keeps rotation exact (a file never passes the limit by a batch).
    for (const std::string& line : batch) AppendLocked(line);
    lock.lock();
    written_total_ += batch.size();
    written_.notify_all();
  }
}

void AuditLog::Flush() {
  if (!options_.batch) return;
  std::unique_lock lock(mu_);
  const uint64_t target = queued_total_;
  written_.wait(lock, [&] { return written_total_ >= target; });
}

AuditLog::~AuditLog() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    queued_.notify_one();
    writer_.join();
  }
}

namespace {

// Ends a watch's audit record once: when the handler closes the stream, or when the sink is
// released (a client that went away is noticed by a failed write, then dropped).
class AuditedSink final : public rest::WatchSink {
 public:
  AuditedSink(std::shared_ptr<rest::WatchSink> inner, std::function<void()> on_end)
      : inner_(std::move(inner)), on_end_(std::move(on_end)) {}
  ~AuditedSink() override { Finish(); }
  bool Write(const std::string& chunk) override { return inner_->Write(chunk); }
  // Forwarded as it is, so that audited watches keep sharing one event's bytes.
  bool WriteShared(std::shared_ptr<const std::string> chunk) override {
    return inner_->WriteShared(std::move(chunk));
  }
  void Close() override {
    inner_->Close();
    Finish();
  }
  bool Closed() const override { return inner_->Closed(); }

 private:
  void Finish() {
    if (!finished_.exchange(true)) on_end_();
  }
  std::shared_ptr<rest::WatchSink> inner_;
  std::function<void()> on_end_;
  std::atomic<bool> finished_{false};
};

}  // namespace

rest::RestObserver Observer(const Policy& policy, AuditLog& log, const Clock& clock) {
  return [&policy, &log, &clock](const rest::RestRequest& request, rest::RestResponse& response,
                                 Timestamp received) {
    rbac::Attributes attrs = rbac::AttributesFor(request);
    std::vector<std::string> omit;
    const Level level = LevelFor(policy, attrs, &omit);
    if (level == Level::kNone) return;
    json event = {{"kind", "Event"},
                  {"apiVersion", "audit.k8s.io/v1"},
                  {"level", LevelName(level)},
                  {"auditID", NewAuditId()},
                  {"requestURI", request.path},
                  {"verb", attrs.verb},
                  {"user", {{"username", request.user.name}, {"groups", request.user.groups}}},
                  {"userAgent", request.Header("user-agent")},
                  {"sourceIPs", request.peer_address.empty() ? json::array()
                                                             : json::array({request.peer_address})},
                  {"requestReceivedTimestamp", MicroTime(received)}};
    if (!request.query.empty()) {
      std::string q;
      for (const auto& [k, v] : request.query) q += (q.empty() ? "?" : "&") + k + "=" + v;
      event["requestURI"] = request.path + q;
    }
    if (attrs.resource_request) {
      json ref = {{"resource", attrs.resource}, {"apiGroup", attrs.api_group}};
      if (!attrs.ns.empty()) ref["namespace"] = attrs.ns;
      if (!attrs.name.empty()) ref["name"] = attrs.name;
      if (!attrs.subresource.empty()) ref["subresource"] = attrs.subresource;
      event["objectRef"] = ref;
    }
    if (level >= Level::kRequest && !request.body.empty()) {
      // Depth-limited (common/json_parse.h): the event is copied and dumped, both recursive.
      json body = ParseJson(request.body);
      if (!body.is_discarded()) event["requestObject"] = std::move(body);
    }
    auto omitted = [&omit](const char* stage) {
      return std::find(omit.begin(), omit.end(), stage) != omit.end();
    };
    json status = {{"metadata", json::object()}, {"code", response.code}};
    if (response.code >= 400) {
      json body = json::parse(response.Body(), nullptr, false);
      if (body.is_object()) {
        status["status"] = "Failure";
        if (body.contains("message")) status["message"] = body["message"];
        if (body.contains("reason")) status["reason"] = body["reason"];
      }
    }
    if (response.start_stream) {
      // A watch: RequestReceived now, ResponseComplete when the stream ends.
      if (!omitted("RequestReceived")) {
        json first = event;
        first["stage"] = "RequestReceived";
        first["stageTimestamp"] = MicroTime(received);
        log.Write(first);
      }
      if (omitted("ResponseComplete")) return;
      event["responseStatus"] = status;
      event["stage"] = "ResponseComplete";
      auto start = std::move(response.start_stream);
      response.start_stream = [start = std::move(start), event, &log,
                               &clock](std::shared_ptr<rest::WatchSink> sink) mutable {
        start(std::make_shared<AuditedSink>(std::move(sink), [event, &log, &clock]() mutable {
          event["stageTimestamp"] = MicroTime(clock.Now());
          log.Write(event);
        }));
      };
      return;
    }
    if (omitted("ResponseComplete")) return;
    if (level >= Level::kRequestResponse && response.code < 400) {
      json body = json::parse(response.Body(), nullptr, false);
      if (!body.is_discarded()) event["responseObject"] = body;
    }
    event["responseStatus"] = status;
    event["stage"] = "ResponseComplete";
    event["stageTimestamp"] = MicroTime(clock.Now());
    log.Write(event);
  };
}

}  // namespace meridian::apiserver::audit
