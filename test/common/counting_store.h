// A Store that counts the requests it passes on, by verb and resource: tests that show a
// controller's reads come from informers (no LIST per event) wrap the federation-apiserver's
// store with it and give the controllers an ObjectService over it.
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "apimachinery/store.h"

namespace meridian::test_env {

class CountingStore : public apimachinery::Store {
 public:
  explicit CountingStore(apimachinery::Store& inner) : inner_(inner) {}
  StatusOr<nlohmann::json> Get(const apimachinery::ObjectKey& key) override {
    Count("get", key.type.resource);
    return inner_.Get(key);
  }
  StatusOr<apimachinery::ListResult> List(const apimachinery::ResourceType& type,
                                          const apimachinery::ListOptions& options) override {
    Count("list", type.resource);
    return inner_.List(type, options);
  }
  StatusOr<nlohmann::json> Create(const apimachinery::ObjectKey& key,
                                  nlohmann::json object) override {
    Count("create", key.type.resource);
    return inner_.Create(key, std::move(object));
  }
  StatusOr<nlohmann::json> Update(const apimachinery::ObjectKey& key, nlohmann::json object,
                                  int64_t expected) override {
    Count("update", key.type.resource);
    return inner_.Update(key, std::move(object), expected);
  }
  StatusOr<nlohmann::json> Delete(const apimachinery::ObjectKey& key, int64_t expected) override {
    Count("delete", key.type.resource);
    return inner_.Delete(key, expected);
  }
  StatusOr<std::unique_ptr<apimachinery::Watch>> WatchFrom(
      const apimachinery::ResourceType& type, const std::string& ns,
      const apimachinery::LabelSelector& selector, int64_t from,
      apimachinery::WatchCallback callback) override {
    Count("watch", type.resource);
    return inner_.WatchFrom(type, ns, selector, from, std::move(callback));
  }
  int64_t CurrentResourceVersion() override { return inner_.CurrentResourceVersion(); }

  // verb -> resource -> requests so far.
  std::map<std::string, std::map<std::string, int>> counts() {
    std::lock_guard lock(mu_);
    return counts_;
  }
  int total(const std::string& verb) {
    int n = 0;
    const auto all = counts();
    auto it = all.find(verb);
    if (it == all.end()) return 0;
    for (const auto& [resource, count] : it->second) n += count;
    return n;
  }

  // "resource=count ..." of one verb, for failure messages.
  std::string Describe(const std::string& verb) {
    std::string s;
    const auto all = counts();
    auto it = all.find(verb);
    if (it == all.end()) return s;
    for (const auto& [resource, n] : it->second) s += resource + "=" + std::to_string(n) + " ";
    return s;
  }

 private:
  void Count(const std::string& verb, const std::string& resource) {
    std::lock_guard lock(mu_);
    ++counts_[verb][resource];
  }
  apimachinery::Store& inner_;
  std::mutex mu_;
  std::map<std::string, std::map<std::string, int>> counts_;
};

}  // namespace meridian::test_env
