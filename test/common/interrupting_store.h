// A Store that passes everything on to another and can interrupt a sequence of writes: make
// the next deletes fail before they reach the inner store (the process that sent them was
// killed, or the store call was lost), and run a hook right before a write is sent or right
// after an update has landed (another writer getting in between two steps). Tests of what a
// caller's multi-step write leaves behind when it is cut short use it.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "apimachinery/store.h"

namespace meridian::test_env {

class InterruptingStore : public apimachinery::Store {
 public:
  explicit InterruptingStore(apimachinery::Store& inner) : inner_(inner) {}

  // The next `n` deletes of `resource` fail with kUnavailable and change nothing.
  void FailDeletes(const std::string& resource, int n) {
    std::lock_guard lock(mu_);
    fail_resource_ = resource;
    fail_deletes_ = n;
  }
  // Runs once, right after the next successful update of `resource`, with what it stored.
  void AfterNextUpdate(const std::string& resource,
                       std::function<void(const nlohmann::json& stored)> hook) {
    std::lock_guard lock(mu_);
    hook_resource_ = resource;
    after_update_ = std::move(hook);
  }
  // Runs once, right before the next `verb` ("create", "update", "delete") of `resource` is
  // passed on (after any FailDeletes), on the writer's thread: another writer getting in
  // between the writer's read and its write. The hook may write through this store.
  void BeforeNextWrite(const std::string& verb, const std::string& resource,
                       std::function<void()> hook) {
    std::lock_guard lock(mu_);
    before_write_ = verb + " " + resource;
    before_hook_ = std::move(hook);
  }
  // Writes of `resource` that reached the inner store, by verb ("update", "delete").
  int Writes(const std::string& verb, const std::string& resource) {
    std::lock_guard lock(mu_);
    return writes_[verb + " " + resource];
  }

  StatusOr<nlohmann::json> Get(const apimachinery::ObjectKey& key) override {
    return inner_.Get(key);
  }
  StatusOr<apimachinery::ListResult> List(const apimachinery::ResourceType& type,
                                          const apimachinery::ListOptions& options) override {
    return inner_.List(type, options);
  }
  StatusOr<nlohmann::json> Create(const apimachinery::ObjectKey& key,
                                  nlohmann::json object) override {
    RunBeforeWrite("create", key);
    return inner_.Create(key, std::move(object));
  }
  StatusOr<nlohmann::json> Update(const apimachinery::ObjectKey& key, nlohmann::json object,
                                  int64_t expected) override {
    RunBeforeWrite("update", key);
    StatusOr<nlohmann::json> out = inner_.Update(key, std::move(object), expected);
    std::function<void(const nlohmann::json&)> hook;
    {
      std::lock_guard lock(mu_);
      if (out.ok()) ++writes_["update " + key.type.resource];
      if (out.ok() && after_update_ && key.type.resource == hook_resource_) {
        hook = std::move(after_update_);
        after_update_ = nullptr;
      }
    }
    if (hook) hook(*out);
    return out;
  }
  StatusOr<nlohmann::json> Delete(const apimachinery::ObjectKey& key, int64_t expected) override {
    {
      std::lock_guard lock(mu_);
      if (fail_deletes_ > 0 && key.type.resource == fail_resource_) {
        --fail_deletes_;
        return UnavailableError("delete of " + key.ToString() + " interrupted (test)");
      }
    }
    RunBeforeWrite("delete", key);
    StatusOr<nlohmann::json> out = inner_.Delete(key, expected);
    std::lock_guard lock(mu_);
    if (out.ok()) ++writes_["delete " + key.type.resource];
    return out;
  }
  StatusOr<std::unique_ptr<apimachinery::Watch>> WatchFrom(
      const apimachinery::ResourceType& type, const std::string& ns,
      const apimachinery::LabelSelector& selector, int64_t from,
      apimachinery::WatchCallback callback) override {
    return inner_.WatchFrom(type, ns, selector, from, std::move(callback));
  }
  int64_t CurrentResourceVersion() override { return inner_.CurrentResourceVersion(); }

 private:
  void RunBeforeWrite(const std::string& verb, const apimachinery::ObjectKey& key) {
    std::function<void()> hook;
    {
      std::lock_guard lock(mu_);
      if (!before_hook_ || before_write_ != verb + " " + key.type.resource) return;
      hook = std::move(before_hook_);
      before_hook_ = nullptr;
    }
    hook();
  }

  apimachinery::Store& inner_;
  std::mutex mu_;  // guards everything below
  std::string fail_resource_;
  int fail_deletes_ = 0;
  std::string hook_resource_;
  std::function<void(const nlohmann::json&)> after_update_;
  std::string before_write_;  // "verb resource"
  std::function<void()> before_hook_;
  std::map<std::string, int> writes_;
};

}  // namespace meridian::test_env
