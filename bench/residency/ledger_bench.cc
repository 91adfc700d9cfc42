// The evidence ledger's pure costs (residency/ledger.h): making the next entry of a
// placement decision (canonical form + SHA-256), and verifying a chain from its stored JSON
// objects (parse, strict decode, hash, link). The store write an append also costs is the
// API's (bench/federation-apiserver), not measured here.
#include <benchmark/benchmark.h>

#include "residency/ledger.h"

namespace meridian::residency {
namespace {

using nlohmann::json;

const Timestamp kT0 = Timestamp{} + std::chrono::seconds(1'796'000'000);

// A placement decision as the placement controller records it (three EU clusters).
json PlacementData(int64_t i) {
  json clusters = json::array();
  for (const char* c : {"eu-central-1", "eu-west-1", "eu-west-2"}) {
    clusters.push_back({{"cluster", c}, {"jurisdiction", "eu"}, {"replicas", 4 + i % 3}});
  }
  return {{"workload", "payments/ledger"},
          {"clusters", clusters},
          {"retained", json::array()},
          {"unplaced", 0},
          {"allowed", "allowed by payments-eu-only: eu; intersection: eu"}};
}

void BM_AppendPlacementEntry(benchmark::State& state) {
  EvidenceHead head;
  int64_t i = 0;
  for (auto _ : state) {
    EvidenceEntry e =
        NextEntry(head, kT0 + std::chrono::milliseconds(i), "Placement", PlacementData(i));
    head = {e.sequence, std::move(e.hash)};
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendPlacementEntry);

// The stored text of a chain of `n` entries (what `fedctl residency verify` receives).
std::vector<std::string> StoredChain(int64_t n) {
  std::vector<std::string> out;
  out.reserve(n + 1);
  EvidenceHead head;
  for (int64_t i = 0; i < n; ++i) {
    EvidenceEntry e =
        NextEntry(head, kT0 + std::chrono::milliseconds(i), "Placement", PlacementData(i));
    head = {e.sequence, e.hash};
    out.push_back(EvidenceObject(e).dump());
  }
  out.push_back(HeadObject(head, kT0).dump());
  return out;
}

// How verify reads a stored object: the old way (the whole object parsed into a JSON tree, then
// decoded and data serialised again for the hash), or ChainVerifier::AddStored (hashes the
// stored bytes of data when they are canonical; parses and decodes only the rest).
enum class Reader { kParseTree, kStoredBytes };

Status AddText(ChainVerifier& v, const std::string& text, Reader reader) {
  if (reader == Reader::kStoredBytes) return v.AddStored(text);
  return v.Add(json::parse(text));
}

// Verify from stored JSON text, per entry (items/s), over a 100,000-entry chain.
void BM_VerifyStoredChain(benchmark::State& state, Reader reader) {
  static const std::vector<std::string> chain = StoredChain(100'000);
  for (auto _ : state) {
    ChainVerifier v;
    for (const std::string& text : chain) {
      if (!AddText(v, text, reader).ok()) state.SkipWithError("chain does not verify");
    }
    if (!v.Finish().ok()) state.SkipWithError("chain does not verify");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(chain.size()));
}
BENCHMARK_CAPTURE(BM_VerifyStoredChain, ParseTree, Reader::kParseTree)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_VerifyStoredChain, StoredBytes, Reader::kStoredBytes)
    ->Unit(benchmark::kMillisecond);

// 1,000,000 entries, streamed (the verifier's memory does not grow with the chain): each
// entry is made, serialised, parsed back and verified. An upper bound of verify alone, as
// making the entry costs about as much again; BM_MakeMillion measures that part.
void BM_MakeAndVerifyMillion(benchmark::State& state) {
  for (auto _ : state) {
    ChainVerifier v;
    EvidenceHead head;
    for (int64_t i = 0; i < 1'000'000; ++i) {
      EvidenceEntry e =
          NextEntry(head, kT0 + std::chrono::milliseconds(i), "Placement", PlacementData(i));
      head = {e.sequence, e.hash};
      if (!v.Add(json::parse(EvidenceObject(e).dump())).ok()) state.SkipWithError("broken");
    }
    if (!v.Add(HeadObject(head, kT0)).ok()) state.SkipWithError("head");
    if (!v.Finish().ok()) state.SkipWithError("chain does not verify");
  }
}
BENCHMARK(BM_MakeAndVerifyMillion)->Unit(benchmark::kSecond)->Iterations(1);

void BM_MakeMillion(benchmark::State& state) {
  for (auto _ : state) {
    EvidenceHead head;
    for (int64_t i = 0; i < 1'000'000; ++i) {
      EvidenceEntry e =
          NextEntry(head, kT0 + std::chrono::milliseconds(i), "Placement", PlacementData(i));
      head = {e.sequence, e.hash};
      benchmark::DoNotOptimize(EvidenceObject(e).dump());
    }
  }
}
BENCHMARK(BM_MakeMillion)->Unit(benchmark::kSecond)->Iterations(1);


// Verify of 1,000,000 stored entries, the floor of issue 14 (< 10 s): the chain is made and
// serialised 10,000 entries at a time with the timer paused, so only verify is timed (parse
// of each object's text, strict decode, hash, link), the way `fedctl residency verify` does
// it after reading a page. The verifier's memory does not grow with the chain.
void BM_VerifyMillionStored(benchmark::State& state, Reader reader) {
  constexpr int64_t kEntries = 1'000'000, kBatch = 10'000;
  for (auto _ : state) {
    ChainVerifier v;
    EvidenceHead head;
    std::vector<std::string> batch;
    batch.reserve(kBatch);
    for (int64_t i = 0; i < kEntries; i += kBatch) {
      state.PauseTiming();
      batch.clear();
      for (int64_t j = i; j < i + kBatch; ++j) {
        EvidenceEntry e =
            NextEntry(head, kT0 + std::chrono::milliseconds(j), "Placement", PlacementData(j));
        head = {e.sequence, e.hash};
        batch.push_back(EvidenceObject(e).dump());
      }
      state.ResumeTiming();
      for (const std::string& text : batch) {
        if (!AddText(v, text, reader).ok()) state.SkipWithError("chain does not verify");
      }
    }
    if (!v.Add(HeadObject(head, kT0)).ok()) state.SkipWithError("head");
    if (!v.Finish().ok()) state.SkipWithError("chain does not verify");
  }
  state.SetItemsProcessed(state.iterations() * kEntries);
}
BENCHMARK_CAPTURE(BM_VerifyMillionStored, ParseTree, Reader::kParseTree)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_VerifyMillionStored, StoredBytes, Reader::kStoredBytes)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

}  // namespace
}  // namespace meridian::residency

BENCHMARK_MAIN();
