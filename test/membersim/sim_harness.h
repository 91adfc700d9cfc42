// A tiny stand-in for the API layer in the reconciler's unit tests: it keeps a cluster's
// objects as values, applies a Step's writes the way the API server would (uid,
// creationTimestamp, generation bump on spec change, resourceVersion CAS) and runs
// Reconcile until nothing changes. Real-store behaviour is covered by cluster_sim_test.
#pragma once

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "common/clock.h"
#include "membersim/reconciler.h"

namespace meridian::membersim::testing {

class SimHarness {
 public:
  explicit SimHarness(ClusterSpec spec) : reconciler_(std::move(spec), 7) {}

  FakeClock& clock() { return clock_; }
  SimFaults& faults() { return faults_; }
  std::optional<Timestamp> wake_at() const { return wake_; }

  // Runs steps until one makes no writes. Fails the test if it does not settle.
  void Settle() {
    for (int i = 0; i < 100; ++i) {
      Snapshot s = Take();
      Step step = reconciler_.Reconcile(s, faults_, clock_.Now());
      wake_ = step.wake_at;
      if (step.writes.empty()) return;
      for (const Write& w : step.writes) Apply(w);
    }
    ADD_FAILURE() << "reconcile did not settle in 100 steps";
  }

  // Advances the clock by `d` in increments, settling at each wake-up on the way.
  void Run(Duration d) {
    Timestamp end = clock_.Now() + d;
    Settle();
    while (wake_ && *wake_ <= end) {
      if (*wake_ > clock_.Now()) clock_.Set(*wake_);
      Settle();
    }
    clock_.Set(end);
    Settle();
  }

  // User-side API calls.
  void Create(const ResourceType& t, nlohmann::json o) {
    Apply(Write{WriteOp::kCreate, Key(t, o), std::move(o), 0, false});
  }
  void Update(const ResourceType& t, nlohmann::json o) {
    Apply(Write{WriteOp::kUpdate, Key(t, o), std::move(o), 0, false});
  }
  void Delete(const ResourceType& t, const std::string& ns, const std::string& name) {
    Apply(Write{WriteOp::kDelete, ObjectKey{t, ns, name}, {}, 0, false});
  }
  nlohmann::json Get(const ResourceType& t, const std::string& ns, const std::string& name) {
    auto it = objects_[t].find(ns + "/" + name);
    return it == objects_[t].end() ? nlohmann::json() : it->second;
  }
  std::vector<nlohmann::json> List(const ResourceType& t) {
    std::vector<nlohmann::json> out;
    for (auto& [k, v] : objects_[t]) out.push_back(v);
    return out;
  }
  int writes() const { return writes_; }

  // The cluster's objects now, as the shell would list them; the reconciler under test.
  Snapshot Take() {
    Snapshot s;
    s.nodes = List(kNodes);
    s.pods = List(kPods);
    s.deployments = List(kDeployments);
    s.replicasets = List(kReplicaSets);
    s.statefulsets = List(kStatefulSets);
    s.services = List(kServices);
    return s;
  }
  Reconciler& reconciler() { return reconciler_; }

 private:
  static ObjectKey Key(const ResourceType& t, const nlohmann::json& o) {
    return ObjectKey{t, o["metadata"].value("namespace", ""), o["metadata"]["name"]};
  }
  void Apply(const Write& w) {
    ++writes_;
    auto& table = objects_[w.key.type];
    std::string k = w.key.ns + "/" + w.key.name;
    auto it = table.find(k);
    ++rv_;
    switch (w.op) {
      case WriteOp::kCreate: {
        ASSERT_EQ(it, table.end()) << "create of existing " << w.key.ToString();
        nlohmann::json o = w.object;
        o["metadata"]["uid"] = "uid-" + std::to_string(rv_);
        o["metadata"]["creationTimestamp"] = FormatRfc3339(clock_.Now());
        o["metadata"]["generation"] = 1;
        o["metadata"]["resourceVersion"] = std::to_string(rv_);
        table[k] = o;
        break;
      }
      case WriteOp::kUpdate: {
        ASSERT_NE(it, table.end()) << "update of missing " << w.key.ToString();
        if (w.expected_resource_version != 0) {
          ASSERT_EQ(std::to_string(w.expected_resource_version),
                    it->second["metadata"]["resourceVersion"].get<std::string>());
        }
        nlohmann::json o = w.object;
        o["metadata"]["uid"] = it->second["metadata"]["uid"];
        o["metadata"]["creationTimestamp"] = it->second["metadata"]["creationTimestamp"];
        int64_t gen = it->second["metadata"].value("generation", 1);
        if (o.value("spec", nlohmann::json()) != it->second.value("spec", nlohmann::json())) ++gen;
        o["metadata"]["generation"] = gen;
        o["metadata"]["resourceVersion"] = std::to_string(rv_);
        it->second = o;
        break;
      }
      case WriteOp::kDelete:
        ASSERT_NE(it, table.end()) << "delete of missing " << w.key.ToString();
        table.erase(it);
        break;
    }
  }

  FakeClock clock_;
  Reconciler reconciler_;
  SimFaults faults_;
  std::optional<Timestamp> wake_;
  std::map<ResourceType, std::map<std::string, nlohmann::json>> objects_;
  int64_t rv_ = 0;
  int writes_ = 0;
};

}  // namespace meridian::membersim::testing
