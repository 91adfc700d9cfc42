#include "dns/wire.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

namespace meridian::dns {
namespace {

inline uint8_t ToLowerAscii(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

bool EqualsIgnoreCaseBytes(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(static_cast<uint8_t>(a[i])) != ToLowerAscii(static_cast<uint8_t>(b[i])))
      return false;
  }
  return true;
}

Status Malformed(const std::string& what) {
  return InvalidArgumentError("malformed packet: " + what);
}

// Bounds-checked big-endian reader over the packet.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}
  size_t offset() const { return offset_; }
  size_t remaining() const { return data_.size() - offset_; }
  bool U8(uint8_t* v) {
    if (remaining() < 1) return false;
    *v = data_[offset_++];
    return true;
  }
  bool U16(uint16_t* v) {
    if (remaining() < 2) return false;
    *v = static_cast<uint16_t>((data_[offset_] << 8) | data_[offset_ + 1]);
    offset_ += 2;
    return true;
  }
  bool U32(uint32_t* v) {
    if (remaining() < 4) return false;
    *v = (uint32_t{data_[offset_]} << 24) | (uint32_t{data_[offset_ + 1]} << 16) |
         (uint32_t{data_[offset_ + 2]} << 8) | uint32_t{data_[offset_ + 3]};
    offset_ += 4;
    return true;
  }
  bool Bytes(size_t n, const uint8_t** p) {
    if (remaining() < n) return false;
    *p = data_.data() + offset_;
    offset_ += n;
    return true;
  }
  StatusOr<Name> ReadName() { return ParseName(data_, &offset_); }

 private:
  std::span<const uint8_t> data_;
  size_t offset_ = 0;
};

void PutU16(std::vector<uint8_t>* out, uint16_t v) {
  out->push_back(static_cast<uint8_t>(v >> 8));
  out->push_back(static_cast<uint8_t>(v));
}
void PutU32(std::vector<uint8_t>* out, uint32_t v) {
  out->push_back(static_cast<uint8_t>(v >> 24));
  out->push_back(static_cast<uint8_t>(v >> 16));
  out->push_back(static_cast<uint8_t>(v >> 8));
  out->push_back(static_cast<uint8_t>(v));
}
void SetU16(std::vector<uint8_t>* out, size_t at, uint16_t v) {
  (*out)[at] = static_cast<uint8_t>(v >> 8);
  (*out)[at + 1] = static_cast<uint8_t>(v);
}

StatusOr<RData> ParseRData(std::span<const uint8_t> packet, RRType type, size_t start,
                           uint16_t rdlength) {
  const size_t end = start + rdlength;
  auto check_end = [&](size_t off) -> Status {
    if (off != end) return Malformed("RDATA of " + RRTypeName(type) + " does not match its length");
    return Status::Ok();
  };
  // Names inside RDATA may be compressed against the whole packet, but must not run past
  // the RDATA itself.
  std::span<const uint8_t> upto = packet.first(end);
  size_t off = start;
  switch (type) {
    case RRType::kA: {
      if (rdlength != 4) return Malformed("A RDATA must be 4 octets");
      AData a;
      std::memcpy(a.address.data(), packet.data() + start, 4);
      return RData(a);
    }
    case RRType::kAAAA: {
      if (rdlength != 16) return Malformed("AAAA RDATA must be 16 octets");
      AaaaData a;
      std::memcpy(a.address.data(), packet.data() + start, 16);
      return RData(a);
    }
    case RRType::kNS:
    case RRType::kCNAME:
    case RRType::kPTR: {
      MERIDIAN_ASSIGN_OR_RETURN(Name n, ParseName(upto, &off));
      MERIDIAN_RETURN_IF_ERROR(check_end(off));
      return RData(NameData{std::move(n)});
    }
    case RRType::kSOA: {
      SoaData soa;
      MERIDIAN_ASSIGN_OR_RETURN(soa.mname, ParseName(upto, &off));
      MERIDIAN_ASSIGN_OR_RETURN(soa.rname, ParseName(upto, &off));
      Reader r(upto);
      // Re-position the reader at `off` by skipping bytes.
      const uint8_t* skip;
      if (!r.Bytes(off, &skip) || !r.U32(&soa.serial) || !r.U32(&soa.refresh) ||
          !r.U32(&soa.retry) || !r.U32(&soa.expire) || !r.U32(&soa.minimum)) {
        return Malformed("SOA RDATA truncated");
      }
      MERIDIAN_RETURN_IF_ERROR(check_end(r.offset()));
      return RData(std::move(soa));
    }
    case RRType::kMX: {
      if (rdlength < 3) return Malformed("MX RDATA truncated");
      MxData mx;
      mx.preference = static_cast<uint16_t>((packet[start] << 8) | packet[start + 1]);
      off += 2;
      MERIDIAN_ASSIGN_OR_RETURN(mx.exchange, ParseName(upto, &off));
      MERIDIAN_RETURN_IF_ERROR(check_end(off));
      return RData(std::move(mx));
    }
    case RRType::kSRV: {
      if (rdlength < 7) return Malformed("SRV RDATA truncated");
      SrvData srv;
      srv.priority = static_cast<uint16_t>((packet[start] << 8) | packet[start + 1]);
      srv.weight = static_cast<uint16_t>((packet[start + 2] << 8) | packet[start + 3]);
      srv.port = static_cast<uint16_t>((packet[start + 4] << 8) | packet[start + 5]);
      off += 6;
      MERIDIAN_ASSIGN_OR_RETURN(srv.target, ParseName(upto, &off));
      MERIDIAN_RETURN_IF_ERROR(check_end(off));
      return RData(std::move(srv));
    }
    case RRType::kTXT: {
      if (rdlength == 0) return Malformed("TXT RDATA is empty");
      TxtData txt;
      while (off < end) {
        size_t len = packet[off++];
        if (off + len > end) return Malformed("TXT string runs past its RDATA");
        txt.strings.emplace_back(reinterpret_cast<const char*>(packet.data() + off), len);
        off += len;
      }
      return RData(std::move(txt));
    }
    default:
      return RData(
          RawData{std::string(reinterpret_cast<const char*>(packet.data() + start), rdlength)});
  }
}

StatusOr<Edns> ParseOpt(const ResourceRecord& rr, uint8_t* extended_rcode_high) {
  if (!rr.name.IsRoot()) return Malformed("OPT owner must be the root");
  Edns edns;
  edns.udp_payload_size = rr.klass;
  *extended_rcode_high = static_cast<uint8_t>(rr.ttl >> 24);
  edns.version = static_cast<uint8_t>(rr.ttl >> 16);
  edns.dnssec_ok = (rr.ttl & 0x8000) != 0;
  const std::string& raw = std::get<RawData>(rr.rdata).bytes;
  std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
  Reader r(data);
  while (r.remaining() > 0) {
    uint16_t code, len;
    const uint8_t* p;
    if (!r.U16(&code) || !r.U16(&len) || !r.Bytes(len, &p))
      return Malformed("EDNS option truncated");
    if (code == kEdnsOptionClientSubnet) {
      if (edns.client_subnet) return Malformed("more than one client-subnet option");
      if (len < 4) return Malformed("client-subnet option too short");
      ClientSubnet cs;
      cs.family = static_cast<uint16_t>((p[0] << 8) | p[1]);
      cs.source_prefix = p[2];
      cs.scope_prefix = p[3];
      size_t max_bits;
      if (cs.family == ClientSubnet::kFamilyIPv4) {
        max_bits = 32;
      } else if (cs.family == ClientSubnet::kFamilyIPv6) {
        max_bits = 128;
      } else {
        return Malformed("client-subnet family " + std::to_string(cs.family) + " unsupported");
      }
      if (cs.source_prefix > max_bits) return Malformed("client-subnet source prefix too long");
      size_t addr_len = (cs.source_prefix + 7) / 8;
      if (len - 4u != addr_len)
        return Malformed("client-subnet address length does not match prefix");
      std::memcpy(cs.address.data(), p + 4, addr_len);
      // RFC 7871 §6: bits beyond SOURCE PREFIX-LENGTH must be zero.
      if (cs.source_prefix % 8 != 0) {
        uint8_t mask = static_cast<uint8_t>(0xFF >> (cs.source_prefix % 8));
        if (cs.address[addr_len - 1] & mask)
          return Malformed("client-subnet address has bits beyond its prefix");
      }
      edns.client_subnet = cs;
    } else {
      edns.other_options.push_back({code, std::string(reinterpret_cast<const char*>(p), len)});
    }
  }
  return edns;
}

// Name compression: remembers where each written name suffix starts, by pointing into the
// names of the message being written (which outlives the writer).
class NameWriter {
 public:
  explicit NameWriter(std::vector<uint8_t>* out) : out_(out) {}

  void Write(const Name& name, bool compress) {
    const std::string& w = name.wire();
    size_t i = 0;
    while (w[i] != 0) {
      std::string_view suffix(w.data() + i, w.size() - i);
      if (compress) {
        for (size_t k = 0; k < count_; ++k) {
          const Entry& e = entries_[k];
          if (EqualsIgnoreCaseBytes(e.suffix, suffix)) {
            PutU16(out_, static_cast<uint16_t>(0xC000 | e.offset));
            return;
          }
        }
      }
      // Remember even when not compressing this name: later names may point here.
      // A fixed table (no allocation per message); names past it are simply not pointed to.
      if (out_->size() < 0x4000 && count_ < entries_.size()) {
        entries_[count_++] = {suffix, static_cast<uint16_t>(out_->size())};
      }
      size_t len = static_cast<uint8_t>(w[i]);
      out_->insert(out_->end(), w.begin() + i, w.begin() + i + 1 + len);
      i += 1 + len;
    }
    out_->push_back(0);
  }

 private:
  struct Entry {
    std::string_view suffix;
    uint16_t offset;
  };
  std::vector<uint8_t>* out_;
  std::array<Entry, 128> entries_;
  size_t count_ = 0;
};

void WriteRData(const ResourceRecord& rr, NameWriter* names, std::vector<uint8_t>* out) {
  struct Visitor {
    NameWriter* names;
    std::vector<uint8_t>* out;
    void operator()(const AData& a) { out->insert(out->end(), a.address.begin(), a.address.end()); }
    void operator()(const AaaaData& a) {
      out->insert(out->end(), a.address.begin(), a.address.end());
    }
    void operator()(const NameData& n) { names->Write(n.name, true); }
    void operator()(const SoaData& s) {
      names->Write(s.mname, true);
      names->Write(s.rname, true);
      PutU32(out, s.serial);
      PutU32(out, s.refresh);
      PutU32(out, s.retry);
      PutU32(out, s.expire);
      PutU32(out, s.minimum);
    }
    void operator()(const MxData& m) {
      PutU16(out, m.preference);
      names->Write(m.exchange, true);
    }
    void operator()(const SrvData& s) {
      PutU16(out, s.priority);
      PutU16(out, s.weight);
      PutU16(out, s.port);
      names->Write(s.target, false);
    }
    void operator()(const TxtData& t) {
      for (const std::string& s : t.strings) {
        size_t len = std::min<size_t>(s.size(), 255);
        out->push_back(static_cast<uint8_t>(len));
        out->insert(out->end(), s.begin(), s.begin() + len);
      }
    }
    void operator()(const RawData& r) { out->insert(out->end(), r.bytes.begin(), r.bytes.end()); }
  };
  std::visit(Visitor{names, out}, rr.rdata);
}

void WriteRecord(const ResourceRecord& rr, NameWriter* names, std::vector<uint8_t>* out) {
  names->Write(rr.name, true);
  PutU16(out, static_cast<uint16_t>(rr.type));
  PutU16(out, rr.klass);
  PutU32(out, rr.ttl);
  size_t len_at = out->size();
  PutU16(out, 0);
  WriteRData(rr, names, out);
  SetU16(out, len_at, static_cast<uint16_t>(out->size() - len_at - 2));
}

void WriteOpt(const Edns& edns, RCode rcode, std::vector<uint8_t>* out) {
  out->push_back(0);  // root owner
  PutU16(out, static_cast<uint16_t>(RRType::kOPT));
  PutU16(out, edns.udp_payload_size);
  uint32_t ttl = (uint32_t{static_cast<uint16_t>(rcode)} >> 4 & 0xFF) << 24 |
                 uint32_t{edns.version} << 16 | (edns.dnssec_ok ? 0x8000u : 0u);
  PutU32(out, ttl);
  size_t len_at = out->size();
  PutU16(out, 0);
  if (edns.client_subnet) {
    const ClientSubnet& cs = *edns.client_subnet;
    size_t addr_len = (cs.source_prefix + 7) / 8;
    PutU16(out, kEdnsOptionClientSubnet);
    PutU16(out, static_cast<uint16_t>(4 + addr_len));
    PutU16(out, cs.family);
    out->push_back(cs.source_prefix);
    out->push_back(cs.scope_prefix);
    out->insert(out->end(), cs.address.begin(), cs.address.begin() + addr_len);
  }
  for (const EdnsOption& o : edns.other_options) {
    PutU16(out, o.code);
    PutU16(out, static_cast<uint16_t>(o.data.size()));
    out->insert(out->end(), o.data.begin(), o.data.end());
  }
  SetU16(out, len_at, static_cast<uint16_t>(out->size() - len_at - 2));
}

void WriteHeader(const Header& h, std::vector<uint8_t>* out) {
  PutU16(out, h.id);
  uint8_t b2 =
      static_cast<uint8_t>((h.qr ? 0x80 : 0) | ((static_cast<uint8_t>(h.opcode) & 0xF) << 3) |
                           (h.aa ? 0x04 : 0) | (h.tc ? 0x02 : 0) | (h.rd ? 0x01 : 0));
  uint8_t b3 = static_cast<uint8_t>((h.ra ? 0x80 : 0) | (h.ad ? 0x20 : 0) | (h.cd ? 0x10 : 0) |
                                    (static_cast<uint16_t>(h.rcode) & 0xF));
  out->push_back(b2);
  out->push_back(b3);
  PutU16(out, 0);
  PutU16(out, 0);
  PutU16(out, 0);
  PutU16(out, 0);
}

}  // namespace

std::string RRTypeName(RRType type) {
  switch (type) {
    case RRType::kA:
      return "A";
    case RRType::kNS:
      return "NS";
    case RRType::kCNAME:
      return "CNAME";
    case RRType::kSOA:
      return "SOA";
    case RRType::kPTR:
      return "PTR";
    case RRType::kMX:
      return "MX";
    case RRType::kTXT:
      return "TXT";
    case RRType::kAAAA:
      return "AAAA";
    case RRType::kSRV:
      return "SRV";
    case RRType::kOPT:
      return "OPT";
    case RRType::kIXFR:
      return "IXFR";
    case RRType::kAXFR:
      return "AXFR";
    case RRType::kANY:
      return "ANY";
  }
  return "TYPE" + std::to_string(static_cast<uint16_t>(type));
}

std::optional<RRType> RRTypeFromName(std::string_view name) {
  for (RRType t : {RRType::kA, RRType::kNS, RRType::kCNAME, RRType::kSOA, RRType::kPTR, RRType::kMX,
                   RRType::kTXT, RRType::kAAAA, RRType::kSRV, RRType::kOPT, RRType::kIXFR,
                   RRType::kAXFR, RRType::kANY}) {
    if (EqualsIgnoreCaseBytes(RRTypeName(t), name)) return t;
  }
  return std::nullopt;
}

StatusOr<Name> Name::FromText(std::string_view text) {
  if (text.empty() || text == ".") return Name();
  std::string wire;
  wire.reserve(text.size() + 2);
  std::string label;
  auto flush = [&]() -> Status {
    if (label.empty())
      return InvalidArgumentError("empty label in name \"" + std::string(text) + "\"");
    if (label.size() > kMaxLabelLength) {
      return InvalidArgumentError("label longer than 63 octets in name \"" + std::string(text) +
                                  "\"");
    }
    wire.push_back(static_cast<char>(label.size()));
    wire += label;
    label.clear();
    return Status::Ok();
  };
  size_t i = 0;
  bool trailing_dot = false;
  while (i < text.size()) {
    char c = text[i];
    trailing_dot = false;
    if (c == '.') {
      MERIDIAN_RETURN_IF_ERROR(flush());
      trailing_dot = true;
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) return InvalidArgumentError("dangling escape in name");
      if (i + 3 < text.size() && isdigit(static_cast<unsigned char>(text[i + 1])) &&
          isdigit(static_cast<unsigned char>(text[i + 2])) &&
          isdigit(static_cast<unsigned char>(text[i + 3]))) {
        int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
        if (v > 255) return InvalidArgumentError("escape \\DDD above 255 in name");
        label.push_back(static_cast<char>(v));
        i += 4;
      } else {
        label.push_back(text[i + 1]);
        i += 2;
      }
    } else {
      label.push_back(c);
      ++i;
    }
  }
  if (!trailing_dot) MERIDIAN_RETURN_IF_ERROR(flush());
  wire.push_back('\0');
  if (wire.size() > kMaxNameWireLength) {
    return InvalidArgumentError("name longer than 255 octets: \"" + std::string(text) + "\"");
  }
  return Name(std::move(wire));
}

std::string Name::ToText() const {
  if (IsRoot()) return ".";
  std::string out;
  size_t i = 0;
  while (wire_[i] != 0) {
    size_t len = static_cast<uint8_t>(wire_[i]);
    for (size_t j = i + 1; j <= i + len; ++j) {
      unsigned char c = static_cast<unsigned char>(wire_[j]);
      if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || c == '@' ||
          c == '$') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7F) {
        char buf[5];
        std::snprintf(buf, sizeof(buf), "\\%03u", c);
        out += buf;
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    out.push_back('.');
    i += 1 + len;
  }
  return out;
}

int Name::LabelCount() const {
  int n = 0;
  for (size_t i = 0; wire_[i] != 0; i += 1 + static_cast<uint8_t>(wire_[i])) ++n;
  return n;
}

Name Name::Lowercased() const {
  std::string w = wire_;
  for (char& c : w) c = static_cast<char>(ToLowerAscii(static_cast<uint8_t>(c)));
  // Label length octets are <= 63, so lower-casing never changes them.
  return Name(std::move(w));
}

Name Name::Parent() const {
  if (IsRoot()) return *this;
  return Name(wire_.substr(1 + static_cast<uint8_t>(wire_[0])));
}

bool Name::IsSubdomainOf(const Name& apex) const {
  if (apex.wire_.size() > wire_.size()) return false;
  // Walk labels until the remaining suffix has the apex's length, then compare.
  size_t i = 0;
  while (wire_.size() - i > apex.wire_.size()) i += 1 + static_cast<uint8_t>(wire_[i]);
  if (wire_.size() - i != apex.wire_.size()) return false;
  return EqualsIgnoreCaseBytes(std::string_view(wire_).substr(i), apex.wire_);
}

bool Name::EqualsIgnoreCase(const Name& other) const {
  return EqualsIgnoreCaseBytes(wire_, other.wire_);
}

StatusOr<Name> ParseName(std::span<const uint8_t> packet, size_t* offset) {
  std::string wire;
  size_t pos = *offset;
  size_t end_of_name = 0;  // where the caller continues: after the first pointer or the root
  bool jumped = false;
  // A pointer must point strictly before the label sequence that contains it; this makes
  // loops impossible, and the 255-octet limit bounds the work.
  size_t min_pos = pos;
  while (true) {
    if (pos >= packet.size()) return Malformed("name runs past the end of the packet");
    uint8_t len = packet[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= packet.size()) return Malformed("compression pointer truncated");
      size_t target = static_cast<size_t>(((len & 0x3F) << 8) | packet[pos + 1]);
      if (target >= min_pos) return Malformed("compression pointer does not point backwards");
      if (!jumped) end_of_name = pos + 2;
      jumped = true;
      pos = target;
      min_pos = target;
      continue;
    }
    if ((len & 0xC0) != 0) return Malformed("unsupported label type");
    if (len == 0) {
      wire.push_back('\0');
      if (wire.size() > kMaxNameWireLength) return Malformed("name longer than 255 octets");
      if (!jumped) end_of_name = pos + 1;
      break;
    }
    if (pos + 1 + len > packet.size()) return Malformed("label runs past the end of the packet");
    if (wire.size() + 1 + len + 1 > kMaxNameWireLength)
      return Malformed("name longer than 255 octets");
    wire.append(reinterpret_cast<const char*>(packet.data() + pos), 1 + len);
    pos += 1 + len;
  }
  *offset = end_of_name;
  return Name::FromWire(std::move(wire));
}

StatusOr<Header> ParseHeader(std::span<const uint8_t> packet) {
  if (packet.size() < kHeaderSize) return Malformed("shorter than a header");
  Header h;
  h.id = static_cast<uint16_t>((packet[0] << 8) | packet[1]);
  uint8_t b2 = packet[2], b3 = packet[3];
  h.qr = b2 & 0x80;
  h.opcode = static_cast<Opcode>((b2 >> 3) & 0xF);
  h.aa = b2 & 0x04;
  h.tc = b2 & 0x02;
  h.rd = b2 & 0x01;
  h.ra = b3 & 0x80;
  h.ad = b3 & 0x20;
  h.cd = b3 & 0x10;
  h.rcode = static_cast<RCode>(b3 & 0xF);
  h.qdcount = static_cast<uint16_t>((packet[4] << 8) | packet[5]);
  h.ancount = static_cast<uint16_t>((packet[6] << 8) | packet[7]);
  h.nscount = static_cast<uint16_t>((packet[8] << 8) | packet[9]);
  h.arcount = static_cast<uint16_t>((packet[10] << 8) | packet[11]);
  return h;
}

StatusOr<Message> ParseMessage(std::span<const uint8_t> packet) {
  MERIDIAN_ASSIGN_OR_RETURN(Header header, ParseHeader(packet));
  Message m;
  m.header = header;
  Reader r(packet);
  const uint8_t* skip;
  (void)r.Bytes(kHeaderSize, &skip);
  // Each question needs >= 5 octets and each record >= 11: reject absurd counts before
  // reserving anything.
  if (size_t{header.qdcount} * 5 > r.remaining()) return Malformed("question count exceeds packet");
  m.questions.reserve(header.qdcount);
  for (int i = 0; i < header.qdcount; ++i) {
    Question q;
    MERIDIAN_ASSIGN_OR_RETURN(q.name, r.ReadName());
    uint16_t type, klass;
    if (!r.U16(&type) || !r.U16(&klass)) return Malformed("question truncated");
    q.type = static_cast<RRType>(type);
    q.klass = klass;
    m.questions.push_back(std::move(q));
  }
  uint8_t extended_rcode_high = 0;
  const uint16_t counts[3] = {header.ancount, header.nscount, header.arcount};
  std::vector<ResourceRecord>* sections[3] = {&m.answers, &m.authority, &m.additional};
  for (int s = 0; s < 3; ++s) {
    if (size_t{counts[s]} * 11 > r.remaining()) return Malformed("record count exceeds packet");
    for (int i = 0; i < counts[s]; ++i) {
      ResourceRecord rr;
      MERIDIAN_ASSIGN_OR_RETURN(rr.name, r.ReadName());
      uint16_t type, rdlength;
      if (!r.U16(&type) || !r.U16(&rr.klass) || !r.U32(&rr.ttl) || !r.U16(&rdlength)) {
        return Malformed("record header truncated");
      }
      rr.type = static_cast<RRType>(type);
      size_t start = r.offset();
      const uint8_t* rdata;
      if (!r.Bytes(rdlength, &rdata)) return Malformed("RDATA runs past the end of the packet");
      if (rr.type == RRType::kOPT) {
        if (s != 2) return Malformed("OPT record outside the additional section");
        if (m.edns) return Malformed("more than one OPT record");
        rr.rdata = RawData{std::string(reinterpret_cast<const char*>(rdata), rdlength)};
        MERIDIAN_ASSIGN_OR_RETURN(Edns edns, ParseOpt(rr, &extended_rcode_high));
        m.edns = std::move(edns);
        continue;
      }
      MERIDIAN_ASSIGN_OR_RETURN(rr.rdata, ParseRData(packet, rr.type, start, rdlength));
      sections[s]->push_back(std::move(rr));
    }
  }
  if (r.remaining() != 0) return Malformed("trailing bytes after the last record");
  m.header.rcode = static_cast<RCode>((uint16_t{extended_rcode_high} << 4) |
                                      static_cast<uint16_t>(header.rcode));
  return m;
}

bool SerializeMessage(const Message& message, size_t max_size, std::vector<uint8_t>* out) {
  out->clear();
  out->reserve(512);
  NameWriter names(out);
  WriteHeader(message.header, out);
  for (const Question& q : message.questions) {
    names.Write(q.name, true);
    PutU16(out, static_cast<uint16_t>(q.type));
    PutU16(out, q.klass);
  }
  const size_t after_questions = out->size();
  // The OPT record is written last but must always fit: reserve its size up front.
  size_t opt_size = 0;
  if (message.edns) {
    opt_size = 11;
    if (message.edns->client_subnet)
      opt_size += 8 + (message.edns->client_subnet->source_prefix + 7) / 8;
    for (const EdnsOption& o : message.edns->other_options) opt_size += 4 + o.data.size();
  }
  for (const ResourceRecord& rr : message.answers) WriteRecord(rr, &names, out);
  for (const ResourceRecord& rr : message.authority) WriteRecord(rr, &names, out);
  for (const ResourceRecord& rr : message.additional) WriteRecord(rr, &names, out);
  bool truncated = false;
  uint16_t an = static_cast<uint16_t>(message.answers.size());
  uint16_t ns = static_cast<uint16_t>(message.authority.size());
  uint16_t ar = static_cast<uint16_t>(message.additional.size());
  if (out->size() + opt_size > max_size) {
    out->resize(after_questions);
    truncated = true;
    an = ns = ar = 0;
    (*out)[2] |= 0x02;  // TC
  }
  if (message.edns) {
    WriteOpt(*message.edns, message.header.rcode, out);
    ++ar;
  }
  SetU16(out, 4, static_cast<uint16_t>(message.questions.size()));
  SetU16(out, 6, an);
  SetU16(out, 8, ns);
  SetU16(out, 10, ar);
  return truncated;
}

std::vector<uint8_t> SerializeMessage(const Message& message) {
  std::vector<uint8_t> out;
  SerializeMessage(message, kMaxMessageSize, &out);
  return out;
}

}  // namespace meridian::dns
