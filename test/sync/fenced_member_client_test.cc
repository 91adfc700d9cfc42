// FencedMemberClientFactory (sync/member_client_factory.h): every member write asks the
// permit first and, refused, sends nothing; reads pass through; an empty permit changes
// nothing. The fake member counts what reached it.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sync/member_client_factory.h"
#include "sync/testing/fake_member_client.h"

namespace meridian::sync {
namespace {

using nlohmann::json;
using testing::FakeMemberClient;
using testing::Verb;

const GroupVersionResource kDeployments{"apps", "v1", "deployments"};

json Deployment(const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec", {{"replicas", replicas}}}};
}

class FencedMemberClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = std::make_shared<FakeMemberClient>(FakeMemberClient::Options{.member = "us-east-1"});
    fake_->Apply(kDeployments, Deployment("web", 2));
    fake_->ClearCalls();
    member_.metadata.name = "us-east-1";
  }
  // The fake behind a fence that answers `permitted_`.
  std::shared_ptr<MemberClient> Fenced() {
    MemberClientFactory inner =
        [this](const api::MemberCluster&) -> StatusOr<std::shared_ptr<MemberClient>> {
      return std::shared_ptr<MemberClient>(fake_);
    };
    WritePermit permit = [this]() -> Status {
      ++asked_;
      return permitted_ ? Status::Ok() : FailedPreconditionError("write refused: lease expired");
    };
    StatusOr<std::shared_ptr<MemberClient>> client =
        FencedMemberClientFactory(inner, permit)(member_);
    EXPECT_TRUE(client.ok());
    return client.ok() ? *client : nullptr;
  }

  std::shared_ptr<FakeMemberClient> fake_;
  api::MemberCluster member_;
  bool permitted_ = true;
  int asked_ = 0;
};

// Each write, refused: the error names the member and the reason, and the member saw nothing.
TEST_F(FencedMemberClientTest, ARefusedPermitStopsEveryWriteBeforeItIsSent) {
  std::shared_ptr<MemberClient> client = Fenced();
  ASSERT_NE(client, nullptr);
  permitted_ = false;
  const std::vector<std::pair<std::string, std::function<Status()>>> writes = {
      {"create",
       [&] { return client->Create(kDeployments, "shop", Deployment("api", 1)).status(); }},
      {"update",
       [&] { return client->Update(kDeployments, "shop", Deployment("web", 9)).status(); }},
      {"update status",
       [&] { return client->UpdateStatus(kDeployments, "shop", Deployment("web", 9)).status(); }},
      {"merge patch",
       [&] {
         return client->MergePatch(kDeployments, "shop", "web", {{"spec", {{"replicas", 9}}}})
             .status();
       }},
      {"json patch",
       [&] {
         return client
             ->JsonPatch(
                 kDeployments, "shop", "web",
                 json::array({{{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 9}}}))
             .status();
       }},
      {"delete", [&] { return client->Delete(kDeployments, "shop", "web"); }},
  };
  for (const auto& [what, write] : writes) {
    Status st = write();
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << what << ": " << st.message();
    EXPECT_NE(st.message().find("us-east-1"), std::string::npos) << what << ": " << st.message();
    EXPECT_NE(st.message().find("lease expired"), std::string::npos)
        << what << ": " << st.message();
  }
  EXPECT_EQ(asked_, static_cast<int>(writes.size()));
  EXPECT_TRUE(fake_->Calls().empty()) << fake_->Calls().size() << " calls reached the member";
  std::optional<json> web = fake_->Object(kDeployments, "shop", "web");
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ((*web)["spec"]["replicas"], 2);
  EXPECT_FALSE(fake_->Object(kDeployments, "shop", "api").has_value());

  // Reads are not writes: they go through without asking.
  EXPECT_TRUE(client->Get(kDeployments, "shop", "web").ok());
  EXPECT_EQ(asked_, static_cast<int>(writes.size()));
}

TEST_F(FencedMemberClientTest, APermittedWriteReachesTheMember) {
  std::shared_ptr<MemberClient> client = Fenced();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Update(kDeployments, "shop", Deployment("web", 5)).ok());
  EXPECT_EQ(asked_, 1);
  EXPECT_EQ(fake_->CallCount(Verb::kUpdate), 1);
  EXPECT_EQ((*fake_->Object(kDeployments, "shop", "web"))["spec"]["replicas"], 5);
}

TEST_F(FencedMemberClientTest, WithoutAPermitTheFactoryIsUnchanged) {
  MemberClientFactory inner =
      [this](const api::MemberCluster&) -> StatusOr<std::shared_ptr<MemberClient>> {
    return std::shared_ptr<MemberClient>(fake_);
  };
  StatusOr<std::shared_ptr<MemberClient>> client =
      FencedMemberClientFactory(inner, WritePermit())(member_);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(client->get(), fake_.get());  // the inner client itself, no wrapper
}

}  // namespace
}  // namespace meridian::sync
