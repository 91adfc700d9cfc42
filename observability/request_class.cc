#include "observability/request_class.h"

#include <vector>

namespace meridian::observability {
namespace {

// "/a/b/c" as views, without allocating; segments past the 12th are dropped (a resource path
// has at most 9: apis, group, version, watch, namespaces, NS, resource, name, subresource).
// A scan per segment: they are short, so a call to memchr for each costs more than it saves.
struct Segments {
  std::array<std::string_view, 12> items;
  size_t count = 0;
  explicit Segments(std::string_view path) {
    const char* p = path.data();
    const char* const end = p + path.size();
    while (count < items.size()) {
      while (p != end && *p == '/') ++p;
      if (p == end) break;
      const char* const begin = p;
      while (p != end && *p != '/') ++p;
      items[count++] = std::string_view(begin, static_cast<size_t>(p - begin));
    }
  }
  size_t size() const { return count; }
  std::string_view operator[](size_t i) const { return items[i]; }
};

int FindResource(const apimachinery::ResourceRegistry& registry, std::string_view group,
                 std::string_view version, std::string_view plural) {
  const std::vector<apimachinery::ResourceInfo>& all = registry.All();
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].plural == plural && all[i].group == group && all[i].version == version) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// CodeSlot's table: one byte per code 0-599, built at compile time.
constexpr std::array<uint8_t, 600> kSlotOfCode = [] {
  std::array<uint8_t, 600> slots{};
  for (uint8_t& s : slots) s = static_cast<uint8_t>(kCodeSlots);
  for (size_t i = 0; i < kSlottedCodes.size(); ++i) {
    slots[static_cast<size_t>(kSlottedCodes[i])] = static_cast<uint8_t>(i);
  }
  return slots;
}();

enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete, kOther };

Method ParseMethod(std::string_view method) {
  switch (method.size()) {
    case 3:
      if (method == "GET") return Method::kGet;
      if (method == "PUT") return Method::kPut;
      break;
    case 4:
      if (method == "HEAD") return Method::kHead;
      if (method == "POST") return Method::kPost;
      break;
    case 5:
      if (method == "PATCH") return Method::kPatch;
      break;
    case 6:
      if (method == "DELETE") return Method::kDelete;
      break;
  }
  return Method::kOther;
}

}  // namespace

RequestClass ClassifyRequest(const apimachinery::ResourceRegistry& registry,
                             std::string_view method, std::string_view path,
                             std::string_view watch_param, std::string_view content_type) {
  RequestClass c;
  const Method m = ParseMethod(method);
  c.mutating =
      m == Method::kPost || m == Method::kPut || m == Method::kPatch || m == Method::kDelete;
  const Segments segs(path);
  std::string_view group, version;
  size_t at = 0;
  if (segs.size() >= 2 && segs[0] == "api") {
    version = segs[1];
    at = 2;
  } else if (segs.size() >= 3 && segs[0] == "apis") {
    group = segs[1];
    version = segs[2];
    at = 3;
  }
  bool watch = watch_param == "true" || watch_param == "1";
  bool has_name = false;
  if (at > 0 && at < segs.size()) {
    if (segs[at] == "watch") {
      watch = true;
      ++at;
    }
    bool namespaced = false;
    if (segs.size() >= at + 3 && segs[at] == "namespaces" &&
        FindResource(registry, group, version, segs[at + 2]) >= 0) {
      namespaced = true;
      at += 2;
    }
    if (at < segs.size()) {
      c.resource = FindResource(registry, group, version, segs[at]);
      has_name = at + 1 < segs.size();
      if (at + 2 < segs.size()) {
        if (segs[at + 2] == "status") c.subresource = 1;
        if (segs[at + 2] == "scale") c.subresource = 2;
      }
      c.scope = has_name ? 1 : namespaced ? 2 : 3;
    }
  }
  switch (m) {
    case Method::kGet:
    case Method::kHead:
      c.long_running = watch;
      if (watch && c.resource >= 0) {
        c.verb = RequestVerb::kWatch;
      } else {
        c.verb = c.resource >= 0 && !has_name ? RequestVerb::kList : RequestVerb::kGet;
      }
      break;
    case Method::kPost:
      c.verb = RequestVerb::kPost;
      break;
    case Method::kPut:
      c.verb = RequestVerb::kPut;
      break;
    case Method::kPatch:
      c.verb = content_type.find("apply-patch") != std::string_view::npos ? RequestVerb::kApply
                                                                          : RequestVerb::kPatch;
      break;
    case Method::kDelete:
      c.verb = RequestVerb::kDelete;
      break;
    case Method::kOther:
      break;
  }
  if (c.resource < 0) c.subresource = c.scope = 0;
  return c;
}

size_t CodeSlot(int code) {
  if (code < 0 || code >= static_cast<int>(kSlotOfCode.size())) return kCodeSlots;
  return kSlotOfCode[static_cast<size_t>(code)];
}

}  // namespace meridian::observability
