#include "federation-apiserver/heap_trimmer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace meridian::apiserver {
namespace {

constexpr size_t kBlock = 4096;
constexpr size_t kBlocks = 16384;  // 64 MiB of small blocks: from an arena, not mmap
constexpr int64_t kMiB = 1 << 20;

TEST(HeapTrimmerTest, ReadsThisProcesssAnonymousResidentMemory) {
  std::optional<int64_t> rss = AnonymousResidentBytes();
  ASSERT_TRUE(rss.has_value());
  EXPECT_GT(*rss, 0);
}

// What a server thread leaves behind: many small blocks freed around a few kept ones, so the
// heap's top cannot shrink and glibc keeps the free pages resident until trimmed.
TEST(HeapTrimmerTest, FreeMemoryBetweenLiveBlocksIsHandedBackToTheKernel) {
  std::vector<std::unique_ptr<char[]>> kept;
  std::thread worker([&kept] {  // its own arena, like the HTTP threads'
    std::vector<std::unique_ptr<char[]>> blocks;
    blocks.reserve(kBlocks);
    for (size_t i = 0; i < kBlocks; ++i) {
      blocks.emplace_back(new char[kBlock]);
      std::memset(blocks.back().get(), static_cast<int>(i), kBlock);  // resident
    }
    for (size_t i = 0; i < kBlocks; ++i) {
      if (i % 64 == 0 || i + 1 == kBlocks) kept.push_back(std::move(blocks[i]));
    }
    blocks.clear();  // frees 63 of every 64 blocks, between the kept ones
  });
  worker.join();

  std::optional<int64_t> released = TrimHeapNow();
  ASSERT_TRUE(released.has_value());
  // ~62 MiB were freed between live blocks; most of it goes back (pages partly used by
  // chunk headers stay).
  EXPECT_GT(*released, 32 * kMiB) << "released " << *released / kMiB << " MiB";
  for (const auto& block : kept) EXPECT_NE(block.get(), nullptr);
}

}  // namespace
}  // namespace meridian::apiserver
