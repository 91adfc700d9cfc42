// --controllers selection and start/stop order of the controller manager. The controllers
// here are registered by this test only (the real ones live in the binary's controllers/).
#include "federation-apiserver/controller_manager.h"

#include <gtest/gtest.h>

#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "common/clock.h"

#include <string>
#include <vector>

namespace meridian::apiserver {
namespace {

std::vector<std::string>& Journal() {
  static std::vector<std::string> journal;
  return journal;
}

class Recorded : public RunningController {
 public:
  explicit Recorded(std::string name) : name_(std::move(name)) {
    Journal().push_back("start " + name_);
  }
  void Stop() override { Journal().push_back("stop " + name_); }

 private:
  std::string name_;
};

ControllerDefinition Define(std::string name, int order, bool fails = false) {
  ControllerDefinition d;
  d.name = name;
  d.description = "test controller " + name;
  d.start_order = order;
  d.start = [name, fails](ControllerContext&) -> StatusOr<std::unique_ptr<RunningController>> {
    if (fails) return UnavailableError(name + " cannot start");
    return std::unique_ptr<RunningController>(new Recorded(name));
  };
  return d;
}

// Registered out of order on purpose: start order comes from start_order, not from the
// order files happen to be linked in.
const ControllerRegistration kGamma(Define("gamma", 30));
const ControllerRegistration kAlpha(Define("alpha", 10));
const ControllerRegistration kBeta(Define("beta", 20));
const ControllerRegistration kBroken(Define("broken", 25, /*fails=*/true));

// A real (empty) context: the test controllers never use it, but it must be valid.
struct TestContext {
  apimachinery::MemoryStore store;
  apimachinery::ResourceRegistry registry;
  FakeClock clock;
  apimachinery::ObjectService objects{store, clock, registry};
  ControllerContext context{objects, clock};
};

std::vector<std::string> Names(const std::vector<const ControllerDefinition*>& defs) {
  std::vector<std::string> out;
  for (const ControllerDefinition* d : defs) out.push_back(d->name);
  return out;
}

std::vector<std::string> Select(const std::string& flag) {
  auto selected = SelectControllers(flag);
  EXPECT_TRUE(selected.ok()) << selected.status().message();
  return selected.ok() ? Names(*selected) : std::vector<std::string>{};
}

TEST(SelectControllersTest, AllAndStarSelectEveryControllerInStartOrder) {
  std::vector<std::string> all = {"alpha", "beta", "broken", "gamma"};
  EXPECT_EQ(Select("all"), all);
  EXPECT_EQ(Select("*"), all);
}

TEST(SelectControllersTest, NoneSelectsNothing) {
  EXPECT_TRUE(Select("none").empty());
  EXPECT_TRUE(Select("").empty());
}

TEST(SelectControllersTest, NamesAndExclusionsLikeKubeControllerManager) {
  EXPECT_EQ(Select("gamma,alpha"), (std::vector<std::string>{"alpha", "gamma"}));
  EXPECT_EQ(Select("*,-broken"), (std::vector<std::string>{"alpha", "beta", "gamma"}));
  EXPECT_EQ(Select("beta,-beta"), std::vector<std::string>{});
}

TEST(SelectControllersTest, UnknownNameIsAnErrorListingTheKnownOnes) {
  auto selected = SelectControllers("alpha,dsn");
  ASSERT_FALSE(selected.ok());
  EXPECT_NE(selected.status().message().find("unknown controller \"dsn\""), std::string::npos);
  EXPECT_NE(selected.status().message().find("alpha, beta, broken, gamma"), std::string::npos);
  EXPECT_FALSE(SelectControllers("-nope").ok());
}

TEST(ControllerManagerTest, StartsInOrderAndStopsInReverse) {
  Journal().clear();
  auto selected = SelectControllers("*,-broken");
  ASSERT_TRUE(selected.ok());
  TestContext t;
  {
    ControllerManager manager;
    ASSERT_TRUE(manager.StartAll(*selected, t.context).ok());
    EXPECT_EQ(manager.running(), (std::vector<std::string>{"alpha", "beta", "gamma"}));
  }  // destruction stops them
  EXPECT_EQ(Journal(), (std::vector<std::string>{"start alpha", "start beta", "start gamma",
                                                 "stop gamma", "stop beta", "stop alpha"}));
}

TEST(ControllerManagerTest, AFailedStartStopsTheOnesAlreadyRunningAndNamesTheController) {
  Journal().clear();
  auto selected = SelectControllers("all");
  ASSERT_TRUE(selected.ok());
  TestContext t;
  ControllerManager manager;
  Status st = manager.StartAll(*selected, t.context);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("starting controller broken"), std::string::npos) << st.message();
  EXPECT_TRUE(manager.running().empty());
  EXPECT_EQ(Journal(), (std::vector<std::string>{"start alpha", "start beta", "stop beta",
                                                 "stop alpha"}));
}

}  // namespace
}  // namespace meridian::apiserver
