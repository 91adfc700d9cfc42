// An in-memory ResourceClient with Kubernetes write semantics (resourceVersion CAS, 404,
// AlreadyExists, no-op updates keep the resourceVersion) and injectable failures, so apply
// and delete logic is tested without a server.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <utility>

#include "cli/client.h"

namespace meridian::cli::testing {

class FakeClient : public ResourceClient {
 public:
  using json = nlohmann::json;

  // Errors returned by the next calls of a verb ("get", "create", "update", "delete"),
  // before the store is consulted.
  void FailNext(const std::string& verb, ApiError e) { failures_[verb].push_back(std::move(e)); }
  // Runs before the next update is served (e.g. a concurrent writer bumping the object).
  void BeforeNextUpdate(std::function<void()> f) { before_update_ = std::move(f); }

  // Stores an object directly (as another writer would), bumping the revision.
  void Put(const KindInfo& kind, const std::string& ns, json object) {
    object["metadata"]["resourceVersion"] = std::to_string(++revision_);
    std::string key = Key(kind, ns, object["metadata"]["name"]);
    objects_[key] = std::move(object);
  }
  const json* Find(const KindInfo& kind, const std::string& ns, const std::string& name) const {
    auto it = objects_.find(Key(kind, ns, name));
    return it == objects_.end() ? nullptr : &it->second;
  }
  int calls(const std::string& verb) const {
    auto it = calls_.find(verb);
    return it == calls_.end() ? 0 : it->second;
  }
  size_t size() const { return objects_.size(); }

  ApiResult<json> Get(const KindInfo& kind, const std::string& ns,
                      const std::string& name) override {
    if (auto e = Injected("get")) return *e;
    const json* o = Find(kind, ns, name);
    if (!o) return ApiError::NotFound(kind.group, kind.plural, name);
    return *o;
  }
  ApiResult<json> List(const KindInfo& kind, const std::string& ns, const std::string&) override {
    if (auto e = Injected("list")) return *e;
    json items = json::array();
    for (const auto& [k, v] : objects_) {
      if (k.rfind(kind.plural + "/" + ns, 0) == 0) items.push_back(v);
    }
    return json{{"kind", kind.kind + "List"}, {"items", items}};
  }
  ApiResult<json> Create(const KindInfo& kind, const std::string& ns, const json& body) override {
    if (auto e = Injected("create")) return *e;
    std::string name = body["metadata"]["name"];
    if (Find(kind, ns, name)) return ApiError::AlreadyExists(kind.group, kind.plural, name);
    json o = body;
    o.erase("status");
    o["metadata"]["uid"] = "uid-" + name;
    Put(kind, ns, o);
    return *Find(kind, ns, name);
  }
  ApiResult<json> Update(const KindInfo& kind, const std::string& ns, const std::string& name,
                         const json& body) override {
    if (before_update_) std::exchange(before_update_, nullptr)();
    if (auto e = Injected("update")) return *e;
    const json* cur = Find(kind, ns, name);
    if (!cur) return ApiError::NotFound(kind.group, kind.plural, name);
    std::string rv = body["metadata"].value("resourceVersion", "");
    if (!rv.empty() && rv != (*cur)["metadata"]["resourceVersion"]) {
      return ApiError::Conflict(kind.group, kind.plural, name);
    }
    json next = body;
    if (cur->contains("status"))
      next["status"] = (*cur)["status"];  // status is a subresource
    else
      next.erase("status");
    json a = next, b = *cur;
    a["metadata"].erase("resourceVersion");
    b["metadata"].erase("resourceVersion");
    if (a == b) return *cur;  // a no-op write keeps the resourceVersion
    Put(kind, ns, next);
    return *Find(kind, ns, name);
  }
  ApiResult<json> Delete(const KindInfo& kind, const std::string& ns,
                         const std::string& name) override {
    if (auto e = Injected("delete")) return *e;
    auto it = objects_.find(Key(kind, ns, name));
    if (it == objects_.end()) return ApiError::NotFound(kind.group, kind.plural, name);
    json o = it->second;
    objects_.erase(it);
    return o;
  }

 private:
  static std::string Key(const KindInfo& kind, const std::string& ns, const std::string& name) {
    return kind.plural + "/" + (kind.namespaced ? ns : "") + "/" + name;
  }
  std::optional<ApiError> Injected(const std::string& verb) {
    ++calls_[verb];
    auto& q = failures_[verb];
    if (q.empty()) return std::nullopt;
    ApiError e = q.front();
    q.pop_front();
    return e;
  }

  std::map<std::string, json> objects_;
  std::map<std::string, std::deque<ApiError>> failures_;
  std::map<std::string, int> calls_;
  std::function<void()> before_update_;
  int64_t revision_ = 0;
};

}  // namespace meridian::cli::testing
