#include "test/fuzz/apiserver/fuzz_api_stack.h"

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>

#include "api/served_kinds.h"
#include "api/types.h"
#include "apimachinery/core_admission.h"
#include "federation-apiserver/admission.h"

namespace meridian::fuzz {

namespace {

using apimachinery::ResourceInfo;
using apimachinery::rest::RestRequest;
using apimachinery::rest::RestResponse;
using apimachinery::rest::WatchSink;

// A client that reads a few events and then goes away, so a watch never outlives Handle().
class ShortSink final : public WatchSink {
 public:
  bool Write(const std::string& chunk) override {
    std::lock_guard lock(mu_);
    if (closed_ || ++writes_ > 8) return false;
    // Every chunk is one JSON event (or a heartbeat newline) that a client must be able to read.
    if (chunk.empty() || chunk.back() != '\n') abort();
    return true;
  }
  void Close() override {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  bool Closed() const override {
    std::lock_guard lock(mu_);
    return closed_ || writes_ > 8;
  }

 private:
  mutable std::mutex mu_;
  bool closed_ = false;
  int writes_ = 0;
};

// FederationApiServer::Create's ResourceInfoFor for Meridian's kinds (server.cc is not in the
// fuzz build: it needs the SQLite/etcd stores); printer columns are left out, Tables then use
// the default ones.
ResourceInfo MeridianResourceInfo(const api::ServedKind& k) {
  ResourceInfo info;
  info.group = k.group;
  info.version = k.version;
  info.kind = k.kind;
  info.plural = k.plural;
  info.singular = k.singular;
  info.short_names = k.short_names;
  info.categories = {"meridian"};
  info.strategic_merge_patch = false;  // custom resources in Kubernetes' terms
  info.namespaced = k.namespaced;
  info.has_status = k.has_status;
  return info;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

ApiStack::ApiStack() {
  if (!registry_.Add(apimachinery::NamespaceResourceInfo()).ok()) abort();
  for (const api::ServedKind& kind : api::ServedKinds()) {
    if (kind.group != api::kGroup) continue;
    if (!registry_.Add(MeridianResourceInfo(kind)).ok()) abort();
  }
  for (const api::ServedKind& kind : api::ServedKinds()) {
    if (kind.group == api::kGroup)
      kinds_.push_back(registry_.Find(kind.group, kind.version, kind.plural));
  }
  store_ = std::make_unique<apimachinery::MemoryStore>();
  objects_ = std::make_unique<apimachinery::ObjectService>(*store_, clock_, registry_);
  apimachinery::InstallCoreAdmission(*objects_);
  apiserver::InstallFederationAdmission(*objects_, *store_, clock_);
  nlohmann::json ns = {
      {"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "default"}}}};
  if (!objects_->Create(*registry_.Find("", "v1", "namespaces"), "", ns).ok()) abort();
  apimachinery::rest::RestOptions options;
  options.max_body_bytes = 1 << 20;
  handler_ = std::make_unique<apimachinery::rest::RestHandler>(*objects_, clock_, options);
}

ApiStack::~ApiStack() { handler_->StopWatches(); }

RestResponse ApiStack::Handle(RestRequest request) {
  RestResponse response = handler_->Handle(std::move(request));
  if (response.start_stream) {
    response.start_stream(std::make_shared<ShortSink>());
    handler_->StopWatches();
  }
  return response;
}

RestRequest ParseRequestText(const std::string& text) {
  RestRequest r;
  size_t line_end = text.find('\n');
  std::string first = text.substr(0, line_end);
  size_t sp = first.find(' ');
  r.method = first.substr(0, sp);
  std::string target = sp == std::string::npos ? "/" : first.substr(sp + 1);
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) {
    std::string query = target.substr(q + 1);
    size_t start = 0;
    while (start <= query.size()) {
      size_t amp = query.find('&', start);
      std::string pair =
          query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      size_t eq = pair.find('=');
      if (!pair.empty())
        r.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  size_t pos = line_end == std::string::npos ? text.size() : line_end + 1;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) break;  // end of headers; the rest is the body
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[Lower(line.substr(0, colon))] = value;
  }
  if (pos < text.size()) r.body = text.substr(pos);
  return r;
}

}  // namespace meridian::fuzz
