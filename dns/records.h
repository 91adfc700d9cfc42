// The data the DNS server serves: endpoint sets with a strategy, in zones, plus the tables
// the geo strategy needs (region RTTs and client CIDR -> region).
//
// Two layers:
//   - *Spec structs are plain values a producer fills in (the static zone loader today, the
//     DNS controller from DNSRecordSet objects later). Text fields, no validation.
//   - Snapshot is the validated, indexed, immutable form built from a SnapshotSpec. It is
//     shared read-only by every server thread (std::shared_ptr<const Snapshot>), so a new
//     world is published by building a new Snapshot and swapping the pointer (see
//     record_source.h); nothing in a Snapshot ever changes after Build().
//
// Serving rules that live in the data model (the answer builder in answer.h applies them):
//   - An endpoint is answerable only if healthy, weight > 0, and, when its record set lists
//     allowed jurisdictions (residency), its jurisdiction is one of them. Endpoints outside
//     the allowed jurisdictions are dropped at Build() time and never reach answers.
//   - When no endpoint of a set is answerable the name answers NODATA (NOERROR, empty
//     answer, SOA in authority) rather than unhealthy endpoints: a client that gets no
//     address retries or fails over itself, while an address of a dead region would be
//     cached for the TTL.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/field_error.h"
#include "common/status.h"
#include "dns/wire.h"

namespace meridian::dns {

// An IPv4 or IPv6 address in network byte order (IPv4 uses the first 4 bytes).
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};

  // "192.0.2.1" or "2001:db8::1"; nullopt if neither.
  static std::optional<IpAddress> Parse(std::string_view text);
  static IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    IpAddress ip;
    ip.bytes[0] = a, ip.bytes[1] = b, ip.bytes[2] = c, ip.bytes[3] = d;
    return ip;
  }
  int BitLength() const { return v6 ? 128 : 32; }
  std::string ToString() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// The number of leading bits `a` and `b` share (same family assumed), at most `limit`.
int CommonPrefixLength(const IpAddress& a, const IpAddress& b, int limit);

// An address prefix ("10.1.0.0/16"). Bits beyond the prefix are zero after Parse.
struct Cidr {
  IpAddress address;
  int prefix = 0;

  // "10.1.0.0/16", "2001:db8::/32", or a bare address (a host prefix). InvalidArgument with
  // the reason otherwise.
  static StatusOr<Cidr> Parse(std::string_view text);
  bool Contains(const IpAddress& ip) const {
    return ip.v6 == address.v6 && CommonPrefixLength(ip, address, prefix) >= prefix;
  }
};

enum class Strategy {
  kStatic,    // every answerable endpoint
  kGeo,       // the answerable endpoints of the region nearest the client
  kWeighted,  // one answerable endpoint, chosen per client subnet in proportion to weight
  kFailover,  // the answerable endpoints with the lowest priority value
};
std::string_view StrategyName(Strategy s);
std::optional<Strategy> StrategyFromName(std::string_view name);

struct Endpoint {
  // What the record answers, by the set's type: A "192.0.2.1"; AAAA "2001:db8::1";
  // CNAME / SRV a host name; TXT the text (split into 255-octet strings on the wire).
  std::string target;
  uint16_t port = 0;         // SRV only
  std::string region;        // e.g. "eu-west"; needed by the geo strategy
  std::string cluster;       // the member cluster serving it (for humans and the controller)
  std::string jurisdiction;  // e.g. "eu"; checked against RecordSetSpec::jurisdictions
  uint32_t weight = 1;       // ready replicas; 0 means never answered
  bool healthy = true;
  int32_t priority = 0;  // failover order, lower first; also the SRV priority
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct RecordSetSpec {
  std::string name;          // fully qualified, inside one of the zones
  RRType type = RRType::kA;  // A, AAAA, CNAME, SRV or TXT
  uint32_t ttl = 30;
  Strategy strategy = Strategy::kStatic;
  // Residency: when non-empty, only endpoints whose jurisdiction is listed are ever answered.
  std::vector<std::string> jurisdictions;
  std::vector<Endpoint> endpoints;
};

struct ZoneSpec {
  std::string apex;   // "global.example.com"
  std::string mname;  // primary name server, default "ns1.<apex>"
  std::string rname;  // responsible mailbox as a name, default "hostmaster.<apex>"
  uint32_t serial = 1;
  uint32_t refresh = 3600;
  uint32_t retry = 600;
  uint32_t expire = 86400;
  uint32_t minimum = 30;  // negative-caching TTL (RFC 2308)
  uint32_t soa_ttl = 300;
  std::vector<std::string> nameservers;  // NS at the apex; default {mname}
  uint32_t ns_ttl = 3600;
};

struct RegionRtt {
  std::string from;
  std::string to;
  uint32_t ms = 0;  // used in both directions unless the reverse is also given
};

struct ClientRegionSpec {
  std::string cidr;  // "10.1.0.0/16"
  std::string region;
};

struct SnapshotSpec {
  std::vector<ZoneSpec> zones;
  std::vector<RecordSetSpec> record_sets;
  std::vector<RegionRtt> rtts;
  std::vector<ClientRegionSpec> client_regions;
  // The region assumed for clients whose address matches no client_regions entry; empty
  // means "unknown": geo then answers every answerable endpoint.
  std::string default_region;
};

// A validated endpoint with its RDATA ready to copy into answers.
struct CompiledEndpoint {
  Endpoint spec;
  RData rdata;
  int region = -1;  // index into Snapshot::regions(), -1 if none
};

struct CompiledRecordSet {
  Name name;  // as written in the spec (case kept for answers)
  RRType type = RRType::kA;
  uint32_t ttl = 0;
  Strategy strategy = Strategy::kStatic;
  // Only endpoints allowed by residency; health and weight are checked at answer time.
  std::vector<CompiledEndpoint> endpoints;
};

struct CompiledZone {
  Name apex;
  ResourceRecord soa;
  uint32_t negative_ttl = 0;  // min(SOA TTL, SOA minimum), RFC 2308 §5
};

// A name that exists in a zone: its record sets (possibly none: an empty non-terminal).
struct NameNode {
  int zone = -1;  // index into Snapshot::zones()
  std::vector<CompiledRecordSet> sets;
};

class Snapshot {
 public:
  // Validates `spec` and indexes it. On problems returns nullptr and appends every problem
  // to `errors` with paths like "records[3].endpoints[1].target" or "zones[0].apex".
  static std::shared_ptr<const Snapshot> Build(const SnapshotSpec& spec, FieldErrors* errors);
  // The same, with the problems joined into one InvalidArgument status.
  static StatusOr<std::shared_ptr<const Snapshot>> Build(const SnapshotSpec& spec);

  // The zone with the longest apex containing `name` (any case), or nullptr.
  const CompiledZone* FindZone(const Name& name) const;
  // The node for a lower-cased name, or nullptr when the name does not exist.
  const NameNode* FindNode(const Name& lowercase_name) const;

  const std::vector<CompiledZone>& zones() const { return zones_; }
  const std::vector<std::string>& regions() const { return regions_; }
  // RTT in ms between two region indices; UINT32_MAX when unknown. 0 on the diagonal.
  uint32_t Rtt(int from, int to) const;
  int RegionIndex(std::string_view name) const;  // -1 if unknown
  int default_region() const { return default_region_; }

  struct ClientRegionEntry {
    Cidr cidr;
    int region = -1;
  };
  const std::vector<ClientRegionEntry>& client_regions() const { return client_regions_; }

 private:
  Snapshot() = default;

  std::vector<CompiledZone> zones_;
  std::unordered_map<std::string, NameNode> nodes_;  // key: lower-cased wire name
  std::vector<std::string> regions_;
  std::vector<uint32_t> rtt_;  // regions_.size()^2, row = from
  std::vector<ClientRegionEntry> client_regions_;
  int default_region_ = -1;
};

}  // namespace meridian::dns
