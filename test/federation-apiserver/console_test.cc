// The web console's static files (federation-apiserver/console.h): every file of console/ is
// embedded byte for byte with its MIME type, / is index.html, /console redirects, unknown
// files are a 404 Status, and responses carry the Content-Security-Policy that keeps scripts
// to this origin. (That the files need no token while the API does: e2e_console_test.)
#include "federation-apiserver/console.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "test/common/test_env.h"

namespace meridian::apiserver {
namespace {

namespace rest = apimachinery::rest;

rest::RestResponse Get(const std::string& path) {
  rest::RestRequest r;
  r.method = "GET";
  r.path = path;
  return ServeConsole(r);
}

TEST(Console, EmbedsEveryFileOfTheConsoleFolderUnchanged) {
  const std::filesystem::path root = std::filesystem::path(test_env::SourceDir()) / "console";
  std::set<std::string> on_disk;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) on_disk.insert(std::filesystem::relative(e.path(), root).string());
  }
  std::set<std::string> embedded;
  for (const ConsoleFile& f : ConsoleFiles()) {
    embedded.insert(std::string(f.path));
    std::ifstream in(root / std::string(f.path), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    EXPECT_EQ(bytes.str(), f.body) << f.path;
  }
  EXPECT_EQ(embedded, on_disk);
  EXPECT_TRUE(on_disk.count("index.html"));
}

TEST(Console, ServesIndexFilesAndTypes) {
  rest::RestResponse index = Get("/console/");
  EXPECT_EQ(index.code, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_NE(index.Body().find("<script type=\"module\" src=\"js/app.js\">"), std::string::npos);
  EXPECT_NE(index.headers["Content-Security-Policy"].find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(index.headers["X-Content-Type-Options"], "nosniff");

  rest::RestResponse app = Get("/console/js/app.js");
  EXPECT_EQ(app.code, 200);
  EXPECT_EQ(app.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Get("/console/console.css").content_type, "text/css; charset=utf-8");
}

TEST(Console, RedirectsTheBarePathAndRefusesUnknownFiles) {
  rest::RestResponse bare = Get("/console");
  EXPECT_EQ(bare.code, 308);
  EXPECT_EQ(bare.headers["Location"], "/console/");

  rest::RestResponse missing = Get("/console/js/nope.js");
  EXPECT_EQ(missing.code, 404);
  EXPECT_NE(missing.Body().find("js/nope.js"), std::string::npos) << missing.Body();
  EXPECT_EQ(Get("/console/../server.cc").code, 404);
}

}  // namespace
}  // namespace meridian::apiserver
