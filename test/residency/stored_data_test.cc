// Verify's fast path from stored text (ChainVerifier::AddStored, residency/internal/
// stored_data.h): it takes data's stored bytes as the canonical form only when they are
// exactly what dump() writes, and it finds exactly what parsing the object whole finds, for
// intact chains, equivalent but differently written ones, and randomly damaged ones (seeded).
#include "residency/internal/stored_data.h"

#include <gtest/gtest.h>

#include <random>

#include "residency/ledger.h"

namespace meridian::residency {
namespace {

using internal::FindCanonicalData;
using nlohmann::json;

const Timestamp kT0 = Timestamp{} + std::chrono::seconds(1'796'000'000);

// An object's text with `data` as spec.data's bytes.
std::string ObjectWithData(const std::string& data) {
  return R"({"apiVersion":"v","kind":"ResidencyEvidence","metadata":{"name":"x"},)"
         R"("spec":{"sequence":1,"data":)" +
         data + R"(,"type":"Placement"}})";
}

TEST(StoredDataTest, DataIsTakenAsCanonicalOnlyWhenItIsWhatDumpWrites) {
  struct Case {
    std::string data;
    bool canonical;
  };
  const std::vector<Case> cases = {
      {"{}", true},
      {R"({"a":1,"b":[true,false,null,-5,0,"x\"y\\z\n\t\b\f\r\u001f\u0000/"],"c":{"d":{}}})", true},
      {R"({"":[],"a":[[[]]],"b":{"":0}})", true},
      {R"({"m":-123456789012345678,"n":123456789012345678})", true},
      {R"({"a":1, "b":2})", false},             // whitespace
      {R"({ "a":1})", false},                   // whitespace
      {R"({"b":1,"a":2})", false},              // unsorted
      {R"({"a":1,"a":2})", false},              // repeated key
      {R"({"a":"\/"})", false},                 // an escape dump does not write
      {R"({"a":"\u0041"})", false},             // likewise
      {R"({"a":"\u000a"})", false},             // dump writes \n
      {R"({"a":"\u001F"})", false},             // dump writes lowercase hex
      {"{\"a\":\"\xc3\xa9\"}", false},          // UTF-8: not validated here, falls back
      {R"({"a\"":1})", false},                  // a key with an escape
      {R"({"a":1.0})", false},                  // fraction
      {R"({"a":1e3})", false},                  // exponent
      {R"({"a":-0})", false},                   // dump writes 0
      {R"({"a":01})", false},                   // not JSON
      {R"({"a":1234567890123456789})", false},  // more than 18 digits: not sure, falls back
      {R"({"a":tru})", false},
      {R"({"a":1)", false},
      {"[1]", false},  // not an object
      {"\"x\"", false},
  };
  for (const Case& c : cases) {
    const std::string text = ObjectWithData(c.data);
    std::optional<internal::DataSpan> span = FindCanonicalData(text);
    EXPECT_EQ(span.has_value(), c.canonical) << c.data;
    if (span) {
      const std::string bytes = text.substr(span->begin, span->end - span->begin);
      EXPECT_EQ(bytes, c.data);
      EXPECT_EQ(json::parse(bytes).dump(), bytes) << c.data;
    }
  }
  // Where the object itself cannot be followed safely: spec or data twice, keys with escapes,
  // data missing, trailing text.
  for (const std::string& text : {
           std::string(R"({"spec":{"data":{}},"spec":{"data":{}}})"),
           std::string(R"({"spec":{"data":{},"data":{}}})"),
           std::string(R"({"sp\u0065c":{"data":{}}})"),
           std::string(R"({"spec":{"d\u0061ta":{}}})"),
           std::string(R"({"spec":{"type":"x"}})"),
           std::string(R"({"spec":{"data":{}}} x)"),
           std::string(R"({"spec":{"data":)"),
           std::string(""),
       }) {
    EXPECT_FALSE(FindCanonicalData(text).has_value()) << text;
  }
  // Whitespace and other keys around data are fine.
  EXPECT_TRUE(FindCanonicalData(" { \"a\" : [ \"}\" ] , \"spec\" : { \"x\" : \"\\\"{\" , "
                                "\"data\" : {\"b\":1} } } ")
                  .has_value());
}

// Random data (seeded): whenever the bytes are taken as canonical they are dump()'s bytes, and
// a compact dump of ASCII integer data is always taken (so the fast path is really used).
TEST(StoredDataTest, RandomDataIsTakenOnlyWhenCanonical) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::vector<std::string> keys = {"",   "a",    "b",    "ab",       "B", "z",    "\"",  "\\",
                                         "\n", "\x1f", "\x7f", "\xc3\xa9", "/", "data", "spec"};
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  bool ascii_integers = true;
  // An object key dump writes with an escape: such keys fall back (compared as written).
  auto key = [&]() {
    const std::string& k = keys[pick(keys.size())];
    if (json(k).dump().find('\\') != std::string::npos) ascii_integers = false;
    return k;
  };
  std::function<json(int)> value = [&](int depth) -> json {
    switch (pick(depth > 3 ? 6 : 8)) {
      case 0:
        return pick(2) == 0;
      case 1:
        return nullptr;
      case 2: {
        const int64_t v = static_cast<int64_t>(rng()) * (pick(2) ? 1 : -1);
        return v;
      }
      case 3: {
        if (pick(4) == 0) {
          ascii_integers = false;
          return static_cast<uint64_t>(rng()) * 4'000'000'000'000ull;  // maybe > 18 digits
        }
        return static_cast<uint64_t>(rng());
      }
      case 4: {
        if (pick(8) == 0) {
          ascii_integers = false;
          return 0.5 * static_cast<double>(rng());
        }
        return keys[pick(keys.size())] + keys[pick(keys.size())];
      }
      case 5:
        return keys[pick(keys.size())];
      case 6: {
        json a = json::array();
        for (size_t i = pick(4); i > 0; --i) a.push_back(value(depth + 1));
        return a;
      }
      default: {
        json o = json::object();
        for (size_t i = pick(5); i > 0; --i) o[key()] = value(depth + 1);
        return o;
      }
    }
  };
  int taken = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    ascii_integers = true;
    json data = json::object();
    for (size_t i = pick(5); i > 0; --i) data[key()] = value(1);
    const std::string dumped = data.dump();
    for (const std::string& written : {dumped, data.dump(1)}) {
      const std::string text = ObjectWithData(written);
      std::optional<internal::DataSpan> span = FindCanonicalData(text);
      if (!span) continue;
      const std::string bytes = text.substr(span->begin, span->end - span->begin);
      ASSERT_EQ(bytes, dumped) << "trial " << trial;
      ASSERT_EQ(json::parse(bytes).dump(), bytes) << "trial " << trial;
      ++taken;
    }
    const bool ascii = std::all_of(dumped.begin(), dumped.end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (ascii && ascii_integers) {
      EXPECT_TRUE(FindCanonicalData(ObjectWithData(dumped)).has_value())
          << "trial " << trial << ": " << dumped;
    }
  }
  EXPECT_GT(taken, 300);
}

// A chain of `n` placement entries as stored text, the head last.
std::vector<std::string> StoredChain(int n) {
  std::vector<std::string> out;
  EvidenceHead head;
  for (int i = 1; i <= n; ++i) {
    EvidenceEntry e = NextEntry(
        head, kT0 + std::chrono::milliseconds(1500 * i), "Placement",
        {{"workload", "payments/ledger"},
         {"allowed", "allowed by payments-eu-only: eu"},
         {"clusters",
          json::array({{{"cluster", "eu-west-1"}, {"jurisdiction", "eu"}, {"replicas", i}}})}});
    head = {e.sequence, e.hash};
    out.push_back(EvidenceObject(e).dump());
  }
  out.push_back(HeadObject(head, kT0).dump());
  return out;
}

// What Add(parse(text)) finds for every text (nullopt: some text is not JSON) and what
// AddStored finds, as status strings.
std::optional<std::string> ByTrees(const std::vector<std::string>& texts) {
  ChainVerifier v;
  for (const std::string& t : texts) {
    json object = json::parse(t, nullptr, false);
    if (object.is_discarded()) return std::nullopt;
    if (Status s = v.Add(std::move(object)); !s.ok()) return s.ToString();
  }
  StatusOr<ChainSummary> s = v.Finish();
  return s.ok() ? "OK " + std::to_string(s->entries) + " " + s->last_time : s.status().ToString();
}

std::string ByStoredBytes(const std::vector<std::string>& texts) {
  ChainVerifier v;
  for (const std::string& t : texts) {
    if (Status s = v.AddStored(t); !s.ok()) return s.ToString();
  }
  StatusOr<ChainSummary> s = v.Finish();
  return s.ok() ? "OK " + std::to_string(s->entries) + " " + s->last_time : s.status().ToString();
}

TEST(StoredDataTest, EquivalentTextVerifiesLikeItsTree) {
  std::vector<std::string> chain = StoredChain(4);
  // Pretty-printed, keys reordered, escapes dump does not write: the same content, so the same
  // hashes; verify canonicalises (the slow path) and both agree.
  chain[0] = json::parse(chain[0]).dump(2);
  const size_t at = chain[1].find("payments/ledger");
  chain[1].replace(at, 15, R"(payments\/l\u0065dger)");
  json o = json::parse(chain[2]);
  chain[2] = R"({"spec":)" + o["spec"].dump(1) + R"(,"metadata":)" + o["metadata"].dump() +
             R"(,"kind":"ResidencyEvidence","apiVersion":)" + o["apiVersion"].dump() + "}";
  EXPECT_EQ(ByTrees(chain), ByStoredBytes(chain));
  EXPECT_EQ(ByStoredBytes(chain).rfind("OK 4 ", 0), 0u) << ByStoredBytes(chain);
}

// Random damage to the stored text (seeded): a byte replaced, inserted or deleted, in random
// objects. Wherever every object is still JSON, both ways give the same status word for word;
// where one is not, AddStored says so.
TEST(StoredDataTest, RandomDamageIsFoundExactlyAsBefore) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string alphabet = " \"\\{}[],:0123456789.-eEau/\nxX\x7f\xc3";
  const std::vector<std::string> intact = StoredChain(5);
  ASSERT_EQ(ByStoredBytes(intact).rfind("OK 5 ", 0), 0u);
  int compared = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::string> texts = intact;
    for (size_t damages = 1 + rng() % 2; damages > 0; --damages) {
      std::string& t = texts[rng() % texts.size()];
      const size_t at = rng() % t.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          t[at] = c;
          break;
        case 1:
          t.insert(t.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          t.erase(at, 1);
      }
    }
    const std::optional<std::string> trees = ByTrees(texts);
    const std::string bytes = ByStoredBytes(texts);
    if (!trees) {
      EXPECT_NE(bytes.find("is not JSON"), std::string::npos) << "trial " << trial << ": " << bytes;
      continue;
    }
    ASSERT_EQ(*trees, bytes) << "trial " << trial;
    ++compared;
  }
  EXPECT_GT(compared, 500);
}

}  // namespace
}  // namespace meridian::residency
