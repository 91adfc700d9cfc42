// --encryption-provider-config parsing: what a valid file configures, and every malformed
// file refused naming the file and the field.
#include "federation-apiserver/encryption_config.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace meridian::apiserver {
namespace {

using apimachinery::ResourceType;

const std::string kKey32 = Base64StdEncode(std::string(32, 'k'));
const std::string kHead =
    "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n";

TEST(EncryptionConfigTest, ValidFileConfiguresEachResourceWithItsChain) {
  const std::string text = kHead +
                           "  - resources: [secrets, widgets.example.io]\n"
                           "    providers:\n"
                           "      - aesgcm:\n"
                           "          keys:\n"
                           "            - {name: new, secret: " +
                           kKey32 +
                           "}\n"
                           "            - {name: old, secret: " +
                           Base64StdEncode(std::string(24, 'o')) +
                           "}\n"
                           "      - identity: {}\n";
  auto chains = ParseEncryptionConfiguration(text, "enc.yaml");
  ASSERT_TRUE(chains.ok()) << chains.status();
  ASSERT_EQ(chains->size(), 2u);
  const auto& secrets = chains->at(ResourceType{"", "secrets"});
  EXPECT_TRUE(secrets.ToStorage("x", "c").value().starts_with("k8s:enc:aesgcm:v1:new:"));
  EXPECT_TRUE(secrets.ReadsPlaintext());
  EXPECT_TRUE(chains->count(ResourceType{"example.io", "widgets"}));
  // The default: Secrets through identity.
  EXPECT_TRUE(DefaultEncryption().at(ResourceType{"", "secrets"}).WritesPlaintext());
}

TEST(EncryptionConfigTest, MalformedFilesNameTheFileAndField) {
  auto keys = [](const std::string& list) {
    return kHead +
           "  - resources: [secrets]\n    providers:\n      - aesgcm:\n          keys: " + list +
           "\n";
  };
  struct Case {
    std::string text, error;
  } cases[] = {
      {keys("[{name: a, secret: " + Base64StdEncode("short") + "}]"),
       "enc.yaml: resources[0].providers[0].aesgcm.keys[0].secret: key is 5 bytes; AES-GCM "
       "needs 16, 24 or 32"},
      {keys("[{name: a, secret: '%%%'}]"),
       "enc.yaml: resources[0].providers[0].aesgcm.keys[0].secret: not valid base64"},
      {keys("[{name: a, secret: " + kKey32 + "}, {name: a, secret: " + kKey32 + "}]"),
       "enc.yaml: resources[0].providers[0].aesgcm.keys[1].name: duplicate key name \"a\""},
      {keys("[{secret: " + kKey32 + "}]"),
       "enc.yaml: resources[0].providers[0].aesgcm.keys[0].name: required"},
      {keys("[{name: a, secert: " + kKey32 + "}]"),
       "enc.yaml: resources[0].providers[0].aesgcm.keys[0].secert: unknown field"},
      {keys("[]"), "enc.yaml: resources[0].providers[0].aesgcm.keys: must list at least one key"},
      {kHead + "  - resources: [secrets]\n    providers:\n      - kms: {}\n",
       "enc.yaml: resources[0].providers[0].kms: provider not supported by Meridian"},
      {kHead + "  - resources: ['*.*']\n    providers:\n      - identity: {}\n",
       "enc.yaml: resources[0].resources[0]: \"*.*\": wildcards are not supported"},
      {kHead + "  - resources: [secrets]\n    providers:\n      - identity: {}\n"
               "  - resources: [secrets]\n    providers:\n      - identity: {}\n",
       "enc.yaml: resources[1].resources[0]: \"secrets\" is configured twice"},
      {kHead + "  - resources: [secrets]\n    providers: []\n",
       "enc.yaml: resources[0].providers: must list at least one"},
      {kHead + "  - resources: [secrets]\n    provider:\n      - identity: {}\n",
       "enc.yaml: resources[0].provider: unknown field"},
      {"apiVersion: v1\nkind: EncryptionConfiguration\nresources: []\n",
       "enc.yaml: apiVersion: must be apiserver.config.k8s.io/v1"},
      {"kind: [\n", "enc.yaml:"},
  };
  for (const Case& c : cases) {
    auto chains = ParseEncryptionConfiguration(c.text, "enc.yaml");
    ASSERT_FALSE(chains.ok()) << c.text;
    EXPECT_EQ(chains.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(chains.status().message().find(c.error), std::string::npos)
        << "got: " << chains.status().message() << "\nwant: " << c.error;
  }
  EXPECT_NE(LoadEncryptionConfiguration("/nonexistent/enc.yaml")
                .status()
                .message()
                .find("/nonexistent/enc.yaml: cannot be read"),
            std::string::npos);
}

}  // namespace
}  // namespace meridian::apiserver
