// The Store conformance suite: every Store backend (SQLite, memory, later etcd) must pass it.
// A backend instantiates it with a factory, inside namespace meridian::apimachinery::testing
// (gtest needs the suite name unqualified), and links the meridian_store_conformance object
// library:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
//       ::testing::Values(StoreFactory{"sqlite", [](int64_t history) { return ...; }}),
//       [](const auto& info) { return info.param.name; });
//
// The factory gets the number of watch-history events the store must keep at least (and
// may keep not many more, so that the 410 Gone test can provoke compaction).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "apimachinery/store.h"

namespace meridian::apimachinery::testing {

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<Store>(int64_t history_events)> make;
  // Whether the store checks a WritePreconditionScope in its writes' transactions
  // (apimachinery/write_precondition.h): the backends do; a Store over a remote API (the
  // controller manager's RestStore) does not, the server it writes to applies its own.
  bool honours_write_preconditions = true;
};

class StoreConformanceTest : public ::testing::TestWithParam<StoreFactory> {};

}  // namespace meridian::apimachinery::testing
