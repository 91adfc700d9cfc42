// Which MemberCluster changes wake the controllers that read members (api/informers.h).
#include "api/informers.h"

#include <gtest/gtest.h>

namespace meridian::api {
namespace {

MemberCluster Member() {
  MemberCluster m;
  m.metadata.name = "eu-west-1";
  m.metadata.resource_version = "10";
  m.metadata.labels = {{"region", "eu-west"}};
  m.spec.region = "eu-west";
  m.status.conditions = {Condition{.type = "Ready", .status = "True"}};
  m.status.zones = {ZoneStatus{.name = "a", .healthy = true}};
  m.status.allocatable_replicas = 100;
  m.status.last_probe_time = "2026-12-06T18:00:00Z";
  m.status.probe_latency_ms = 3;
  return m;
}

TEST(MemberClusterChangeMattersTest, FieldsWrittenForPeopleDoNotWakeControllers) {
  const MemberCluster before = Member();
  MemberCluster after = before;
  after.metadata.resource_version = "11";
  after.status.last_probe_time = "2026-12-06T18:00:30Z";
  after.status.probe_latency_ms = 5;
  after.status.workload_summary = MemberWorkloadSummary{.workloads = 3, .desired_replicas = 9};
  EXPECT_FALSE(MemberClusterChangeMatters(&before, &after));
}

TEST(MemberClusterChangeMattersTest, WhatControllersReadWakesThem) {
  const MemberCluster before = Member();
  auto changed = [&](auto edit) {
    MemberCluster after = before;
    edit(after);
    return MemberClusterChangeMatters(&before, &after);
  };
  EXPECT_TRUE(changed([](MemberCluster& m) { m.metadata.labels["tier"] = "gold"; }));
  EXPECT_TRUE(changed([](MemberCluster& m) { m.metadata.annotations["a"] = "b"; }));
  EXPECT_TRUE(changed([](MemberCluster& m) { m.metadata.deletion_timestamp = "now"; }));
  EXPECT_TRUE(changed([](MemberCluster& m) { m.spec.region = "eu-central"; }));
  EXPECT_TRUE(changed([](MemberCluster& m) { m.status.conditions[0].status = "False"; }));
  EXPECT_TRUE(changed([](MemberCluster& m) { m.status.zones[0].healthy = false; }));
  EXPECT_TRUE(changed([](MemberCluster& m) { m.status.allocatable_replicas = 50; }));
  EXPECT_TRUE(changed([](MemberCluster& m) { m.status.kubernetes_version = "v1.30.1"; }));
  const MemberCluster m = Member();
  EXPECT_TRUE(MemberClusterChangeMatters(nullptr, &m));  // joined
  EXPECT_TRUE(MemberClusterChangeMatters(&m, nullptr));  // removed
}

}  // namespace
}  // namespace meridian::api
