#pragma once
// Shard arithmetic of the ZeRO stages in the CPU reference: the flat parameter buffer of
// `total` elements is cut into `world` contiguous shards of ceil(total / world) elements each;
// rank r owns [r * shard, (r + 1) * shard) clipped to the buffer. The last shards may be shorter
// (or empty); communication buffers pad them with zeros to the common shard size, and the
// padding never reaches the model or the optimizer.
#include <cstdint>

namespace sxb {

// A half-open range of elements [begin, end).
struct ElementRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool empty() const { return end <= begin; }
  bool operator==(const ElementRange&) const = default;
};

class ShardPlan {
 public:
  // total >= 0 elements over world >= 1 ranks; throws std::invalid_argument otherwise.
  ShardPlan(int64_t total, int world);

  int64_t total() const { return total_; }
  int world() const { return world_; }
  // Elements of every shard in the communication buffers: ceil(total / world).
  int64_t shard_size() const { return shard_; }
  // world * shard_size(): the padded length of a gathered buffer (>= total).
  int64_t padded_size() const { return shard_ * world_; }
  // The elements of the buffer rank r owns (size <= shard_size(), possibly empty).
  ElementRange owned(int r) const;
  // The part of `range` that rank r owns (empty when they do not overlap).
  ElementRange owned_part(int r, ElementRange range) const;
  // max over ranks of owned_part(r, range).size(): the block size of one equal-shard collective
  // over `range` (each rank's part padded with zeros to it).
  int64_t largest_part(ElementRange range) const;

 private:
  int64_t total_;
  int world_;
  int64_t shard_;
};

// A shard walked in buckets, for collectives that carry at most `bucket_elements` elements per
// call: bucket j is, in every rank's shard, the offsets [j * c, min((j + 1) * c, shard_size()))
// with c = max(1, bucket_elements / world). One call then carries world * (that length) <=
// max(bucket_elements, world) elements and needs no padding beyond the shards' own.
class ShardBuckets {
 public:
  ShardBuckets(const ShardPlan& plan, int64_t bucket_elements);
  int64_t count() const;  // number of buckets (0 for an empty buffer)
  // Offsets within a shard that bucket j covers.
  ElementRange bucket(int64_t j) const;
  int64_t per_rank() const { return per_rank_; }  // c

 private:
  int64_t shard_;
  int64_t per_rank_;
};

}  // namespace sxb
