// membersim's fieldValidation (membersim/field_validation.h): the pure checks, then the real
// binary answering Strict, Warn and Ignore on create, update and patch.
#include "membersim/field_validation.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test/common/child_process.h"
#include "test/membersim/process.h"

namespace meridian::membersim {
namespace {

using nlohmann::json;

TEST(FieldProblems, UnknownAndDuplicateFieldsInKubesWording) {
  struct Case {
    std::string body;
    bool json_patch;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {R"({"metadata": {"name": "web"}, "spec": {"replicas": 2}})", false, {}},
      {R"({"spec": {"replicaz": 40, "replicas": 1, "replicas": 2}})",
       false,
       {"unknown field \"spec.replicaz\"", "duplicate field \"spec.replicas\""}},
      {R"({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"},
          {"name": "b", "image": "y", "imagePullPolicyx": "Always"}]}}}})",
       false,
       {"unknown field \"spec.template.spec.containers[1].imagePullPolicyx\""}},
      // A merge patch is a partial object: nothing is required.
      {R"({"spec": {"paused": true}})", false, {}},
      {R"([{"op": "replace", "path": "/spec/replicaz", "value": 1, "value": 2}])",
       true,
       {"duplicate field \"[0].value\""}},
      {"not json", false, {}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FieldProblems(c.body, "apps/v1", "Deployment", c.json_patch), c.want) << c.body;
  }
  // A kind without a schema: duplicates only.
  EXPECT_EQ(
      FieldProblems(R"({"spec": {"a": 1, "a": 2, "b": 3}})", "example.com/v1", "Widget", false),
      std::vector<std::string>{"duplicate field \"spec.a\""});
}

TEST(FieldProblems, ModesAndMessages) {
  EXPECT_EQ(*ParseFieldValidation(""), FieldValidation::kWarn);  // kube's default
  EXPECT_EQ(*ParseFieldValidation("Strict"), FieldValidation::kStrict);
  EXPECT_EQ(*ParseFieldValidation("Ignore"), FieldValidation::kIgnore);
  EXPECT_EQ(ParseFieldValidation("strict").status().code(), StatusCode::kInvalidArgument);
  const std::vector<std::string> problems = {"unknown field \"spec.replicaz\"",
                                             "duplicate field \"spec.replicas\""};
  EXPECT_EQ(StrictDecodingError("Deployment", "v1", problems).message(),
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding "
            "error: unknown field \"spec.replicaz\", duplicate field \"spec.replicas\"");
  EXPECT_EQ(
      WarningHeader(problems),
      R"(299 - "unknown field \"spec.replicaz\"", 299 - "duplicate field \"spec.replicas\"")");
}

// The binary, with curl (headers included).
class FieldValidationServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    proc_ = new testing::MembersimProcess();
    std::string err;
    if (!proc_->Start("clusters:\n  - name: c1\n    region: r\n    zones: [{name: z, nodes: 1}]\n",
                      {}, &err)) {
      start_error_ = err;
    }
  }
  static void TearDownTestSuite() {
    delete proc_;
    proc_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(start_error_.empty()) << start_error_; }

  struct Reply {
    int code = 0;
    std::string headers, body;
  };
  static Reply Curl(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& content_type = "application/json") {
    const std::string file = "/tmp/membersim-fv-" + std::to_string(getpid()) + ".json";
    std::ofstream(file) << body;
    test_env::CommandResult r = test_env::RunCommand(
        "curl -sS -i --max-time 10 -X " + method + " -H 'Content-Type: " + content_type +
        "' --data-binary @" + file + " '" + proc_->url() + "/clusters/c1" + path + "'");
    unlink(file.c_str());
    Reply out;
    const size_t split = r.output.find("\r\n\r\n");
    out.headers = r.output.substr(0, split);
    out.body = split == std::string::npos ? "" : r.output.substr(split + 4);
    if (out.headers.size() > 12) out.code = std::atoi(out.headers.c_str() + 9);
    return out;
  }

  static inline testing::MembersimProcess* proc_ = nullptr;
  static inline std::string start_error_;
};

constexpr char kDeploys[] = "/apis/apps/v1/namespaces/default/deployments";

std::string Deployment(const std::string& name, const std::string& extra) {
  return R"({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": ")" + name +
         R"("}, "spec": {"replicas": 1, )" + extra +
         R"("selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels":
         {"app": "a"}}, "spec": {"containers": [{"name": "a", "image": "nginx"}]}}}})";
}

TEST_F(FieldValidationServer, StrictRefusesWithThePathsAndWritesNothing) {
  Reply r = Curl("POST", std::string(kDeploys) + "?fieldValidation=Strict",
                 Deployment("strict", R"("replicaz": 40, "replicas": 2, )"));
  EXPECT_EQ(r.code, 400) << r.headers << r.body;
  json status = json::parse(r.body, nullptr, false);
  EXPECT_EQ(status.value("reason", ""), "BadRequest") << r.body;
  EXPECT_EQ(status.value("message", ""),
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding "
            "error: unknown field \"spec.replicaz\", duplicate field \"spec.replicas\"");
  EXPECT_EQ(Curl("GET", std::string(kDeploys) + "/strict", "").code, 404);

  // Update and merge patch likewise.
  ASSERT_EQ(Curl("POST", kDeploys, Deployment("strict", "")).code, 201);
  r = Curl("PUT", std::string(kDeploys) + "/strict?fieldValidation=Strict",
           Deployment("strict", R"("pausedd": true, )"));
  EXPECT_EQ(r.code, 400) << r.body;
  EXPECT_NE(r.body.find(R"(unknown field \"spec.pausedd\")"), std::string::npos) << r.body;
  r = Curl("PATCH", std::string(kDeploys) + "/strict?fieldValidation=Strict",
           R"({"spec": {"replicaz": 3}})", "application/merge-patch+json");
  EXPECT_EQ(r.code, 400) << r.body;
  EXPECT_NE(r.body.find(R"(unknown field \"spec.replicaz\")"), std::string::npos) << r.body;
  json stored = json::parse(Curl("GET", std::string(kDeploys) + "/strict", "").body);
  EXPECT_FALSE(stored["spec"].contains("replicaz"));
  EXPECT_FALSE(stored["spec"].contains("pausedd"));
}

TEST_F(FieldValidationServer, WarnAcceptsWithAWarningPerFieldAndIgnoreIsSilent) {
  for (const std::string query : {"?fieldValidation=Warn", ""}) {  // Warn is the default
    const std::string name = query.empty() ? "warn-default" : "warn";
    Reply r = Curl("POST", kDeploys + query, Deployment(name, R"("replicaz": 40, )"));
    EXPECT_EQ(r.code, 201) << r.body;
    EXPECT_NE(r.headers.find(R"(Warning: 299 - "unknown field \"spec.replicaz\"")"),
              std::string::npos)
        << r.headers;
    r = Curl("PATCH", std::string(kDeploys) + "/" + name + query, R"({"spec": {"pausedd": true}})",
             "application/merge-patch+json");
    EXPECT_EQ(r.code, 200) << r.body;
    EXPECT_NE(r.headers.find(R"(Warning: 299 - "unknown field \"spec.pausedd\"")"),
              std::string::npos)
        << r.headers;
  }
  Reply r = Curl("POST", std::string(kDeploys) + "?fieldValidation=Ignore",
                 Deployment("ignore", R"("replicaz": 40, )"));
  EXPECT_EQ(r.code, 201) << r.body;
  EXPECT_EQ(r.headers.find("Warning"), std::string::npos) << r.headers;
  r = Curl("POST", std::string(kDeploys) + "?fieldValidation=Loose", Deployment("loose", ""));
  EXPECT_EQ(r.code, 400) << r.body;
}

}  // namespace
}  // namespace meridian::membersim
