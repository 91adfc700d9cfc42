#include "placement/policy.h"

#include <algorithm>

namespace meridian::placement {

int64_t ReplicasOrPercent::For(int64_t total) const {
  if (!percent) return std::max<int64_t>(1, value);
  const int64_t v = std::max<int64_t>(0, value);
  return std::max<int64_t>(1, (std::max<int64_t>(0, total) * v + 99) / 100);
}

}  // namespace meridian::placement
