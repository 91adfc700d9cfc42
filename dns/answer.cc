#include "dns/answer.h"

#include <algorithm>
#include <climits>

namespace meridian::dns {
namespace {

constexpr int kMaxCnameChain = 8;
constexpr int kWeightedKeyBitsV4 = 24;
constexpr int kWeightedKeyBitsV6 = 56;

// Who asked, as far as answers may depend on it.
struct Client {
  IpAddress address;  // ECS address (bits beyond prefix zero) or the packet source
  int prefix = 0;     // significant bits of `address`
  bool have_region = false;
  ClientRegion region;  // resolved lazily: most answers do not need it
};

bool Answerable(const CompiledEndpoint& e) { return e.spec.healthy && e.spec.weight > 0; }

uint64_t Fnv1a(uint64_t h, const uint8_t* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    h ^= data[i];
    h *= 1099511628211ull;
  }
  return h;
}

struct Selection {
  std::vector<const CompiledEndpoint*> endpoints;
  int scope = 0;
};

const ClientRegion& RegionOf(Client* c, const Snapshot& snap) {
  if (!c->have_region) {
    c->region = ResolveClientRegion(c->address, c->prefix, snap);
    if (c->region.region < 0) c->region.region = snap.default_region();
    c->have_region = true;
  }
  return c->region;
}

// A point in [0, total) from a hash of the client's subnet (IPv4 /24, IPv6 /56, or the ECS
// prefix if shorter) and the name: stable per client, spread across the population. The
// endpoint whose cumulative weight range holds it is answered. `*bits` = the address bits
// used (the ECS scope).
uint64_t WeightedPoint(uint64_t total, const Name& lc_name, const Client& client, int* bits) {
  *bits = std::min(client.prefix, client.address.v6 ? kWeightedKeyBitsV6 : kWeightedKeyBitsV4);
  uint8_t key[17] = {};
  key[0] = client.address.v6 ? 6 : 4;
  for (int b = 0; b < *bits; b += 8) {
    uint8_t byte = client.address.bytes[b / 8];
    if (*bits - b < 8) byte &= static_cast<uint8_t>(0xFF << (8 - (*bits - b)));
    key[1 + b / 8] = byte;
  }
  uint64_t h = Fnv1a(1469598103934665603ull, key, sizeof(key));
  h = Fnv1a(h, reinterpret_cast<const uint8_t*>(lc_name.wire().data()), lc_name.wire().size());
  // A final mix so that nearby subnets do not map to nearby points.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h % total;
}

Selection Select(const CompiledRecordSet& set, const Name& lc_name, Client* client,
                 const Snapshot& snap) {
  Selection sel;
  switch (set.strategy) {
    case Strategy::kStatic:
      for (const CompiledEndpoint& e : set.endpoints) {
        if (Answerable(e)) sel.endpoints.push_back(&e);
      }
      break;
    case Strategy::kFailover: {
      int32_t best = INT32_MAX;
      for (const CompiledEndpoint& e : set.endpoints) {
        if (Answerable(e)) best = std::min(best, e.spec.priority);
      }
      for (const CompiledEndpoint& e : set.endpoints) {
        if (Answerable(e) && e.spec.priority == best) sel.endpoints.push_back(&e);
      }
      break;
    }
    case Strategy::kWeighted: {
      uint64_t total = 0;
      for (const CompiledEndpoint& e : set.endpoints) {
        if (Answerable(e)) total += e.spec.weight;
      }
      if (total == 0) break;
      uint64_t point = WeightedPoint(total, lc_name, *client, &sel.scope);
      for (const CompiledEndpoint& e : set.endpoints) {
        if (!Answerable(e)) continue;
        if (point < e.spec.weight) {
          sel.endpoints.push_back(&e);
          break;
        }
        point -= e.spec.weight;
      }
      break;
    }
    case Strategy::kGeo: {
      const ClientRegion& cr = RegionOf(client, snap);
      sel.scope = cr.scope_prefix;
      if (cr.region < 0) {
        for (const CompiledEndpoint& e : set.endpoints) {
          if (Answerable(e)) sel.endpoints.push_back(&e);
        }
        break;
      }
      // The nearest region that has an answerable endpoint; endpoints without a region
      // count as infinitely far. Ties go to the lower region index (= region name order).
      uint32_t best_rtt = UINT32_MAX;
      int best_region = INT_MAX;
      bool found = false;
      for (const CompiledEndpoint& e : set.endpoints) {
        if (!Answerable(e)) continue;
        uint32_t rtt = e.region < 0 ? UINT32_MAX : snap.Rtt(cr.region, e.region);
        int r = e.region < 0 ? INT_MAX : e.region;
        if (!found || rtt < best_rtt || (rtt == best_rtt && r < best_region)) {
          best_rtt = rtt;
          best_region = r;
          found = true;
        }
      }
      for (const CompiledEndpoint& e : set.endpoints) {
        int r = e.region < 0 ? INT_MAX : e.region;
        if (Answerable(e) && found && r == best_region) sel.endpoints.push_back(&e);
      }
      break;
    }
  }
  // A CNAME must be alone at its name, so a CNAME set answers one target: where the strategy
  // left several (geo: members of the nearest region; failover: of the best priority; static),
  // one is picked in proportion to weight per client subnet, as the weighted strategy does.
  if (set.type == RRType::kCNAME && sel.endpoints.size() > 1) {
    uint64_t total = 0;
    for (const CompiledEndpoint* e : sel.endpoints) total += e->spec.weight;
    int bits = 0;
    uint64_t point = WeightedPoint(total, lc_name, *client, &bits);  // total > 0: answerable
    const CompiledEndpoint* chosen = sel.endpoints.back();
    for (const CompiledEndpoint* e : sel.endpoints) {
      if (point < e->spec.weight) {
        chosen = e;
        break;
      }
      point -= e->spec.weight;
    }
    sel.endpoints.assign(1, chosen);
    sel.scope = std::max(sel.scope, bits);
  }
  return sel;
}

const CompiledRecordSet* FindSet(const NameNode& node, RRType type) {
  for (const CompiledRecordSet& s : node.sets) {
    if (s.type == type) return &s;
  }
  return nullptr;
}

void AddNegativeSoa(const CompiledZone& zone, Message* r) {
  ResourceRecord soa = zone.soa;
  soa.ttl = zone.negative_ttl;
  r->authority.push_back(std::move(soa));
}

}  // namespace

ClientRegion ResolveClientRegion(const IpAddress& address, int prefix, const Snapshot& snapshot) {
  ClientRegion out;
  int best_prefix = -1;
  int needed = 0;
  for (const Snapshot::ClientRegionEntry& e : snapshot.client_regions()) {
    if (e.cidr.address.v6 != address.v6) continue;
    int cpl = CommonPrefixLength(address, e.cidr.address, 128);
    if (e.cidr.prefix <= prefix && cpl >= e.cidr.prefix) {
      // Contains the client: the answer depends on the entry's prefix bits.
      needed = std::max(needed, e.cidr.prefix);
      if (e.cidr.prefix > best_prefix) {
        best_prefix = e.cidr.prefix;
        out.region = e.region;
      }
    } else {
      // Does not contain it: the answer depends on the bits that tell them apart.
      needed = std::max(needed, std::min(cpl + 1, e.cidr.prefix));
    }
  }
  out.scope_prefix = std::min(needed, prefix);
  return out;
}

Message BuildFormErr(const Header& query_header) {
  Message r;
  r.header.id = query_header.id;
  r.header.qr = true;
  r.header.opcode = query_header.opcode;
  r.header.rd = query_header.rd;
  r.header.rcode = RCode::kFormErr;
  return r;
}

Message BuildResponse(const Message& query, const IpAddress& source, const Snapshot& snapshot) {
  Message r;
  r.header.id = query.header.id;
  r.header.qr = true;
  r.header.opcode = query.header.opcode;
  r.header.rd = query.header.rd;
  r.header.cd = query.header.cd;
  if (query.edns) {
    r.edns.emplace();
    r.edns->udp_payload_size = kAdvertisedUdpSize;
  }
  if (query.header.opcode != Opcode::kQuery) {
    r.header.rcode = RCode::kNotImp;
    return r;
  }
  if (query.questions.size() != 1 || query.header.qr) {
    r.header.rcode = RCode::kFormErr;
    return r;
  }
  r.questions = query.questions;
  const Question& q = query.questions[0];
  if (query.edns && query.edns->version > 0) {
    r.header.rcode = RCode::kBadVers;
    return r;
  }

  Client client;
  client.address = source;
  client.prefix = source.BitLength();
  const ClientSubnet* ecs = nullptr;
  if (query.edns && query.edns->client_subnet) {
    ecs = &*query.edns->client_subnet;
    client.address = IpAddress{};
    client.address.v6 = ecs->family == ClientSubnet::kFamilyIPv6;
    client.address.bytes = ecs->address;
    client.prefix = ecs->source_prefix;
  }
  int scope = 0;
  auto finish = [&]() -> Message {
    if (ecs != nullptr) {
      ClientSubnet echo = *ecs;
      // Every strategy's scope is <= the source prefix by construction.
      echo.scope_prefix = static_cast<uint8_t>(std::min<int>(scope, ecs->source_prefix));
      r.edns->client_subnet = echo;
    }
    return std::move(r);
  };

  if (q.klass != kClassIN) {
    r.header.rcode = RCode::kRefused;
    return finish();
  }
  if (q.type == RRType::kAXFR || q.type == RRType::kIXFR || q.type == RRType::kOPT) {
    r.header.rcode = RCode::kNotImp;
    return finish();
  }

  Name current = q.name;
  for (int hop = 0; hop <= kMaxCnameChain; ++hop) {
    const CompiledZone* zone = snapshot.FindZone(current);
    if (zone == nullptr) {
      // Out of zone: REFUSED for the question itself; a CNAME leading out ends the chain.
      if (hop == 0) r.header.rcode = RCode::kRefused;
      break;
    }
    if (hop == 0) r.header.aa = true;
    Name lc = current.Lowercased();
    const NameNode* node = snapshot.FindNode(lc);
    if (node == nullptr) {
      r.header.rcode = RCode::kNXDomain;
      AddNegativeSoa(*zone, &r);
      break;
    }
    auto add = [&](const CompiledRecordSet& set, const Selection& sel, size_t limit) {
      scope = std::max(scope, sel.scope);
      for (size_t i = 0; i < sel.endpoints.size() && i < limit; ++i) {
        r.answers.push_back(
            ResourceRecord{current, set.type, kClassIN, set.ttl, sel.endpoints[i]->rdata});
      }
    };
    if (q.type == RRType::kANY) {
      for (const CompiledRecordSet& set : node->sets)
        add(set, Select(set, lc, &client, snapshot), SIZE_MAX);
      if (r.answers.empty()) AddNegativeSoa(*zone, &r);
      break;
    }
    if (const CompiledRecordSet* set = FindSet(*node, q.type)) {
      Selection sel = Select(*set, lc, &client, snapshot);
      scope = std::max(scope, sel.scope);
      if (sel.endpoints.empty()) {
        AddNegativeSoa(*zone, &r);
      } else {
        add(*set, sel, set->type == RRType::kCNAME ? 1 : SIZE_MAX);
      }
      break;
    }
    const CompiledRecordSet* cname = FindSet(*node, RRType::kCNAME);
    if (cname == nullptr) {
      AddNegativeSoa(*zone, &r);
      break;
    }
    Selection sel = Select(*cname, lc, &client, snapshot);
    scope = std::max(scope, sel.scope);
    if (sel.endpoints.empty()) {
      AddNegativeSoa(*zone, &r);
      break;
    }
    add(*cname, sel, 1);
    current = std::get<NameData>(sel.endpoints[0]->rdata).name;
    if (hop == kMaxCnameChain) break;  // too long: answer the chain so far
  }
  return finish();
}

}  // namespace meridian::dns
