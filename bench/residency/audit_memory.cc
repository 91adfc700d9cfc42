// What the residency audit's per-member copy (residency/internal/member_audit_cache.h) holds
// in memory per audited object, measured as the heap it grows by (glibc mallinfo2: bytes in
// use, exact, whatever the load of the machine). Each of MEMBERS members holds OBJECTS
// PersistentVolumeClaims in `payments`, as bench/residency/audit_cpu.sh seeds them (label
// `app: app-<i>`, a UUID uid, resourceVersion and creationTimestamp as a member writes them), and
// is watched for what the audit controller watches with one policy naming `payments`: the audited
// resources there and the managed-by-meridian objects everywhere. Served by FakeMemberClients,
// filled before the measurement starts; what the member client (HTTP) keeps per object is not part
// of it.
//
//   build/bin/bench_residency_audit_memory [MEMBERS (10)] [OBJECTS per member (10000)]
//
// Prints the heap per object held, and the total scaled to 100 members x 10,000 objects.
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "residency/audit.h"
#include "residency/internal/member_audit_cache.h"
#include "sync/propagation.h"
#include "sync/testing/fake_member_client.h"

namespace meridian::residency {
namespace {

using nlohmann::json;

size_t HeapInUse() { return mallinfo2().uordblks; }

// A uid as API servers write them (a version-4 UUID), distinct per member and object.
std::string Uuid(int member, int object) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-0000-4000-8000-%012x", member, object);
  return buf;
}

std::vector<internal::AuditWatchSpec> Specs() {
  std::vector<internal::AuditWatchSpec> specs;
  for (const sync::GroupVersionResource& gvr : AuditedResources())
    specs.push_back({gvr, "payments", ""});
  const std::string managed = std::string(sync::kManagedByLabel) + "=" + sync::kManagedByValue;
  std::vector<sync::GroupVersionResource> managed_kinds = AuditedResources();
  managed_kinds.push_back({"", "v1", "configmaps"});
  managed_kinds.push_back({"", "v1", "secrets"});
  for (const sync::GroupVersionResource& gvr : managed_kinds) specs.push_back({gvr, "", managed});
  return specs;
}

int Run(int members, int objects) {
  const sync::GroupVersionResource pvcs{"", "v1", "persistentvolumeclaims"};
  std::vector<std::unique_ptr<sync::testing::FakeMemberClient>> fakes;
  for (int m = 0; m < members; ++m) {
    sync::testing::FakeMemberClient::Options o;
    o.member = "eu-" + std::to_string(2 * m);
    fakes.push_back(std::make_unique<sync::testing::FakeMemberClient>(o));
    for (int i = 0; i < objects; ++i) {
      fakes.back()->Apply(pvcs, {{"apiVersion", "v1"},
                                 {"kind", "PersistentVolumeClaim"},
                                 {"metadata",
                                  {{"namespace", "payments"},
                                   {"name", "data-" + std::to_string(i)},
                                   {"uid", Uuid(m, i)},
                                   {"labels", {{"app", "app-" + std::to_string(i)}}}}},
                                 {"spec",
                                  {{"accessModes", {"ReadWriteOnce"}},
                                   {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}});
    }
  }
  malloc_trim(0);
  const size_t before = HeapInUse();
  std::vector<std::unique_ptr<internal::MemberAuditCache>> caches;
  const std::vector<internal::AuditWatchSpec> specs = Specs();
  size_t held = 0;
  for (auto& fake : fakes) {
    caches.push_back(std::make_unique<internal::MemberAuditCache>(nullptr));
    Status st = caches.back()->Watch(*fake, specs, {});
    if (!st.ok()) {
      std::fprintf(stderr, "watching %s: %s\n", fake->member().c_str(), st.ToString().c_str());
      return 1;
    }
    caches.back()->TakeChanged();  // as the controller's first judgement of the member
    held += caches.back()->size();
  }
  const size_t after = HeapInUse();
  const double per_object = static_cast<double>(after - before) / static_cast<double>(held);
  std::printf(
      "members %d, objects held %zu, heap grew %.1f MiB: %.0f bytes per object; "
      "at 100 x 10,000: %.0f MiB\n",
      members, held, static_cast<double>(after - before) / (1 << 20), per_object,
      per_object * 1e6 / (1 << 20));
  return 0;
}

}  // namespace
}  // namespace meridian::residency

int main(int argc, char** argv) {
  const int members = argc > 1 ? std::atoi(argv[1]) : 10;
  const int objects = argc > 2 ? std::atoi(argv[2]) : 10'000;
  if (members <= 0 || objects <= 0) {
    std::fprintf(stderr, "usage: %s [MEMBERS > 0] [OBJECTS per member > 0]\n", argv[0]);
    return 2;
  }
  return meridian::residency::Run(members, objects);
}
