// fedctl what-if: the report text (pure) and the command's argument and read errors.
#include "cli/what_if.h"

#include <gtest/gtest.h>

#include <sstream>

#include "test/cli/fake_client.h"

namespace meridian::cli {
namespace {

scheduling::WhatIfAnswer EuZoneLost() {
  scheduling::WhatIfAnswer answer;
  scheduling::WhatIfWorkload w;
  w.ns = "shop";
  w.name = "web";
  w.desired = 12;
  w.unplaced_after = 2;
  w.blocked_by = "2 of 12 unplaced: residency (jurisdiction eu), capacity";
  w.clusters = {{"eu-west-1", "eu-west", 6, 1, "capped by capacity 1"},
                {"eu-central-1", "eu-central", 6, 9, "+3 overflow from eu-west-1"}};
  answer.affected.push_back(w);
  answer.unaffected = 3;
  return answer;
}

TEST(WhatIfFormatTest, ShowsBeforeAfterPerClusterAndRegionWithReasonsAndWhatBlocks) {
  api::DrillTarget zone;
  zone.zone = "eu-west-1a";
  std::string text = FormatWhatIf({zone}, EuZoneLost());
  EXPECT_NE(text.find("eu-west-1a"), std::string::npos) << text;
  EXPECT_NE(text.find("nothing was changed"), std::string::npos) << text;
  EXPECT_NE(text.find("shop/web: 12 replicas"), std::string::npos) << text;
  // Per cluster: before, after, signed change.
  EXPECT_NE(text.find("eu-west-1"), std::string::npos);
  EXPECT_NE(text.find("-5"), std::string::npos) << text;
  EXPECT_NE(text.find("+3"), std::string::npos) << text;
  EXPECT_NE(text.find("why: capped by capacity 1"), std::string::npos) << text;
  EXPECT_NE(text.find("blocks full recovery: 2 of 12 unplaced: residency"), std::string::npos)
      << text;
  EXPECT_NE(text.find("1 workload affected, 3 unaffected."), std::string::npos) << text;
}

TEST(WhatIfFormatTest, FullyPlacedAfterTheFailureSaysSo) {
  scheduling::WhatIfAnswer answer = EuZoneLost();
  answer.affected[0].unplaced_after = 0;
  answer.affected[0].clusters[1].after = 11;
  api::DrillTarget region;
  region.region = "eu-west";
  std::string text = FormatWhatIf({region}, answer);
  EXPECT_NE(text.find("all 12 replicas placed after the failure"), std::string::npos) << text;
  EXPECT_EQ(text.find("blocks full recovery"), std::string::npos) << text;
}

TEST(WhatIfFormatTest, AZoneWhoseReplicasStayInTheClusterShowsItsHintsMove) {
  scheduling::WhatIfAnswer answer;
  scheduling::WhatIfWorkload w;
  w.ns = "payments";
  w.name = "ledger";
  w.desired = 12;
  w.on_target = 3;
  scheduling::WhatIfCluster c{"eu-west-1", "eu-west", 8, 8};
  c.zones_before = {{"eu-west-1a", 3}, {"eu-west-1b", 3}, {"eu-west-1c", 2}};
  c.zones_after = {{"eu-west-1b", 4}, {"eu-west-1c", 4}};
  c.on_target = 3;
  w.clusters = {c};
  answer.affected.push_back(w);
  api::DrillTarget zone;
  zone.zone = "eu-west-1a";
  const std::string text = FormatWhatIf({zone}, answer);
  EXPECT_NE(text.find("payments/ledger: 12 replicas, 3 on the failed target"), std::string::npos)
      << text;
  EXPECT_NE(text.find("zones of eu-west-1: eu-west-1a=3 eu-west-1b=3 eu-west-1c=2 -> eu-west-1b=4 "
                      "eu-west-1c=4"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("1 workload affected"), std::string::npos) << text;
}

TEST(WhatIfCommandTest, NoFailureIsAnArgumentError) {
  testing::FakeClient client;
  std::ostringstream out, err;
  EXPECT_EQ(RunWhatIf(client, {}, Timestamp{}, out, err), 2);
  EXPECT_NE(err.str().find("--fail"), std::string::npos) << err.str();
  EXPECT_EQ(client.calls("list"), 0);
}

TEST(WhatIfCommandTest, MalformedTargetIsNamed) {
  testing::FakeClient client;
  std::ostringstream out, err;
  EXPECT_EQ(RunWhatIf(client, {"planet=mars"}, Timestamp{}, out, err), 2);
  EXPECT_NE(err.str().find("planet"), std::string::npos) << err.str();
}

TEST(WhatIfCommandTest, ATargetThatMatchesNothingIsNamedAndNothingIsWritten) {
  testing::FakeClient client;  // an empty federation
  std::ostringstream out, err;
  EXPECT_EQ(RunWhatIf(client, {"zone=eu-west-1a"}, Timestamp{}, out, err), 2);
  EXPECT_NE(err.str().find("eu-west-1a"), std::string::npos) << err.str();
  EXPECT_EQ(client.calls("create") + client.calls("update") + client.calls("delete"), 0);
}

}  // namespace
}  // namespace meridian::cli
