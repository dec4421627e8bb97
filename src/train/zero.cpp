#include "train/zero.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace sxb {

ShardPlan::ShardPlan(int64_t total, int world) : total_(total), world_(world) {
  if (total < 0 || world < 1) {
    throw std::invalid_argument(
        fmt::format("shard plan of {} elements over {} ranks", total, world));
  }
  shard_ = (total + world - 1) / world;
}

ElementRange ShardPlan::owned(int r) const {
  const int64_t b = std::min(total_, int64_t(r) * shard_);
  const int64_t e = std::min(total_, int64_t(r + 1) * shard_);
  return {b, e};
}

ElementRange ShardPlan::owned_part(int r, ElementRange range) const {
  const ElementRange own = owned(r);
  const int64_t b = std::max(own.begin, range.begin);
  const int64_t e = std::min(own.end, range.end);
  return e > b ? ElementRange{b, e} : ElementRange{b, b};
}

int64_t ShardPlan::largest_part(ElementRange range) const {
  int64_t most = 0;
  for (int r = 0; r < world_; ++r) most = std::max(most, owned_part(r, range).size());
  return most;
}

ShardBuckets::ShardBuckets(const ShardPlan& plan, int64_t bucket_elements)
    : shard_(plan.shard_size()), per_rank_(std::max<int64_t>(1, bucket_elements / plan.world())) {
  if (bucket_elements < 1) {
    throw std::invalid_argument(fmt::format("bucket of {} elements", bucket_elements));
  }
}

int64_t ShardBuckets::count() const {
  return (shard_ + per_rank_ - 1) / per_rank_;
}

ElementRange ShardBuckets::bucket(int64_t j) const {
  const int64_t b = std::min(shard_, j * per_rank_);
  return {b, std::min(shard_, b + per_rank_)};
}

}  // namespace sxb
