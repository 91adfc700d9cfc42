// DNS wire format (RFC 1035) with EDNS0 (RFC 6891) and the client-subnet option (RFC 7871).
//
// Pure and allocation-light: ParseMessage() reads a packet into a Message with strict bounds
// checks (every length is checked against the buffer, compression pointers must point
// strictly backwards so loops are impossible, labels <= 63 octets, names <= 255 octets,
// RDATA must be consumed exactly); SerializeMessage() writes a Message with name
// compression and truncates to a size limit by setting TC. Nothing here does I/O or keeps
// state; every function is thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace meridian::dns {

// Resource record types we understand structurally; any other value is carried as raw RDATA.
enum class RRType : uint16_t {
  kA = 1,
  kNS = 2,
  kCNAME = 5,
  kSOA = 6,
  kPTR = 12,
  kMX = 15,
  kTXT = 16,
  kAAAA = 28,
  kSRV = 33,
  kOPT = 41,
  kIXFR = 251,
  kAXFR = 252,
  kANY = 255,
};

// "A", "AAAA", ... or "TYPE<n>" for unknown values.
std::string RRTypeName(RRType type);
// The inverse of RRTypeName for the types above (case-insensitive); nullopt otherwise.
std::optional<RRType> RRTypeFromName(std::string_view name);

constexpr uint16_t kClassIN = 1;
constexpr uint16_t kClassANY = 255;

// Response codes, including the EDNS extended ones (12 bits in total).
enum class RCode : uint16_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNXDomain = 3,
  kNotImp = 4,
  kRefused = 5,
  kBadVers = 16,
};

enum class Opcode : uint8_t { kQuery = 0, kIQuery = 1, kStatus = 2, kNotify = 4, kUpdate = 5 };

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameWireLength = 255;
constexpr size_t kMaxLabelLength = 63;
// RFC 1035 §4.2.1: UDP messages without EDNS are limited to 512 octets.
constexpr size_t kClassicUdpSize = 512;
constexpr size_t kMaxMessageSize = 65535;

// A domain name kept in uncompressed wire form ("\3www\7example\3com\0"), case preserved as
// received (so the question echoes 0x20-randomised case). Comparisons that matter for DNS
// semantics are case-insensitive (ASCII only, RFC 4343). Invariant: the wire form is always
// valid (labels <= 63, total <= 255, terminated by the root label).
class Name {
 public:
  Name() : wire_(1, '\0') {}  // the root

  // Parses presentation form ("www.example.com" or "www.example.com."; "." or "" is the
  // root). "\." and "\DDD" escapes are accepted. InvalidArgument for empty labels, labels
  // over 63 octets or names over 255.
  static StatusOr<Name> FromText(std::string_view text);
  // Wraps an already validated wire form (used by the parser and tests). Precondition: valid.
  static Name FromWire(std::string wire) { return Name(std::move(wire)); }

  // Presentation form with a trailing dot ("www.example.com."; "." for the root); bytes
  // outside printable ASCII and the characters . \ are escaped as \DDD or \c.
  std::string ToText() const;

  const std::string& wire() const { return wire_; }
  bool IsRoot() const { return wire_.size() == 1; }
  int LabelCount() const;
  // The same name in lower case (the key used for lookups).
  Name Lowercased() const;
  // The name without its first label; the root's parent is the root.
  Name Parent() const;
  // True when this name equals `apex` or is below it (case-insensitive).
  bool IsSubdomainOf(const Name& apex) const;
  // Case-insensitive equality.
  bool EqualsIgnoreCase(const Name& other) const;

  // Exact (case-sensitive) equality; use EqualsIgnoreCase for DNS semantics.
  friend bool operator==(const Name& a, const Name& b) { return a.wire_ == b.wire_; }

 private:
  explicit Name(std::string wire) : wire_(std::move(wire)) {}
  std::string wire_;
};

struct Question {
  Name name;
  RRType type = RRType::kA;
  uint16_t klass = kClassIN;
  friend bool operator==(const Question&, const Question&) = default;
};

struct AData {
  std::array<uint8_t, 4> address{};
  friend bool operator==(const AData&, const AData&) = default;
};
struct AaaaData {
  std::array<uint8_t, 16> address{};
  friend bool operator==(const AaaaData&, const AaaaData&) = default;
};
// RDATA that is one domain name: NS, CNAME, PTR.
struct NameData {
  Name name;
  friend bool operator==(const NameData&, const NameData&) = default;
};
struct SoaData {
  Name mname;
  Name rname;
  uint32_t serial = 0;
  uint32_t refresh = 0;
  uint32_t retry = 0;
  uint32_t expire = 0;
  uint32_t minimum = 0;
  friend bool operator==(const SoaData&, const SoaData&) = default;
};
struct MxData {
  uint16_t preference = 0;
  Name exchange;
  friend bool operator==(const MxData&, const MxData&) = default;
};
struct SrvData {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  Name target;  // never compressed (RFC 2782)
  friend bool operator==(const SrvData&, const SrvData&) = default;
};
struct TxtData {
  std::vector<std::string> strings;  // each <= 255 octets
  friend bool operator==(const TxtData&, const TxtData&) = default;
};
// Any other type, carried opaquely (RFC 3597).
struct RawData {
  std::string bytes;
  friend bool operator==(const RawData&, const RawData&) = default;
};
using RData = std::variant<AData, AaaaData, NameData, SoaData, MxData, SrvData, TxtData, RawData>;

struct ResourceRecord {
  Name name;
  RRType type = RRType::kA;
  uint16_t klass = kClassIN;
  uint32_t ttl = 0;
  RData rdata;
  friend bool operator==(const ResourceRecord&, const ResourceRecord&) = default;
};

// EDNS Client Subnet (RFC 7871 §6). `address` holds the prefix bytes left-aligned; bytes
// beyond the prefix are zero.
struct ClientSubnet {
  static constexpr uint16_t kFamilyIPv4 = 1;
  static constexpr uint16_t kFamilyIPv6 = 2;
  uint16_t family = kFamilyIPv4;
  uint8_t source_prefix = 0;
  uint8_t scope_prefix = 0;
  std::array<uint8_t, 16> address{};
  friend bool operator==(const ClientSubnet&, const ClientSubnet&) = default;
};

constexpr uint16_t kEdnsOptionClientSubnet = 8;

struct EdnsOption {
  uint16_t code = 0;
  std::string data;
  friend bool operator==(const EdnsOption&, const EdnsOption&) = default;
};

// The OPT pseudo-record (RFC 6891 §6.1), decoded.
struct Edns {
  uint16_t udp_payload_size = 1232;
  uint8_t version = 0;
  bool dnssec_ok = false;
  std::optional<ClientSubnet> client_subnet;
  std::vector<EdnsOption> other_options;  // unknown options, kept in order
  friend bool operator==(const Edns&, const Edns&) = default;
};

struct Header {
  uint16_t id = 0;
  bool qr = false;  // response
  Opcode opcode = Opcode::kQuery;
  bool aa = false;  // authoritative answer
  bool tc = false;  // truncated
  bool rd = false;  // recursion desired
  bool ra = false;  // recursion available
  bool ad = false;
  bool cd = false;
  // The full 12-bit code: the low 4 bits travel in the header, the high 8 in the OPT record.
  RCode rcode = RCode::kNoError;
  uint16_t qdcount = 0;  // counts as read off the wire; SerializeMessage recomputes them
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;
  friend bool operator==(const Header&, const Header&) = default;
};

struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<ResourceRecord> answers;
  std::vector<ResourceRecord> authority;
  std::vector<ResourceRecord> additional;  // without the OPT record, which is `edns`
  std::optional<Edns> edns;
};

// Reads the fixed 12-octet header. InvalidArgument if the buffer is shorter.
StatusOr<Header> ParseHeader(std::span<const uint8_t> packet);

// Parses a whole message. InvalidArgument (with a reason) for anything malformed: truncated
// sections, bad names, pointer loops or forward pointers, RDATA that does not match its
// length, more than one OPT record or an OPT outside the additional section, a malformed
// client-subnet option, or trailing bytes after the last record.
StatusOr<Message> ParseMessage(std::span<const uint8_t> packet);

// Reads one possibly-compressed name at `*offset` and advances it past the name's bytes in
// place. Exposed for tests and the fuzzer.
StatusOr<Name> ParseName(std::span<const uint8_t> packet, size_t* offset);

// Writes `message` to `out` (cleared first) with name compression. Section counts come from
// the vectors; the header's counts are ignored. If the result would exceed `max_size`
// octets, writes instead the header with TC set, the question section and the OPT record
// (RFC 2181 §9: the client retries over TCP). Returns true when it truncated.
// Precondition: max_size >= 512 or it fits header + question + OPT.
bool SerializeMessage(const Message& message, size_t max_size, std::vector<uint8_t>* out);

// Convenience wrapper for tests: SerializeMessage with the maximum size.
std::vector<uint8_t> SerializeMessage(const Message& message);

}  // namespace meridian::dns
