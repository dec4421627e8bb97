#pragma once
// ZeRO data parallelism, DeepSpeed's stages, as both engines run them: the CPU reference
// (train/trainer.cpp) and the CUDA engine (train/gpu_exchange.hpp, train/gpu_model_cuda.cpp).
// This table is the one description of the stages; the other places refer to it.
//
// P parameters in the flat layout (cpu::parameter_layout), W ranks, S = ceil(P / W) elements
// per shard (ShardPlan below: rank r owns [r S, (r + 1) S) clipped to P). A unit is one of
// cpu::parameter_units (the embedding, one decoder layer, the final norm with the output head),
// U the largest unit's elements; the backward finishes them from the output head down. Every
// stage sums the gradient over the ranks in fp32, scaled so that the result is the gradient of
// the global mean loss (CUDA engine: each rank's loss scaled by 1 / global target tokens; CPU
// reference: by W / global target tokens, the sum divided by W), and every rank then clips and
// steps AdamW on what it owns. Rows describe the CUDA engine, "(cpu: ...)" where the CPU
// reference differs. Bytes per GPU: the CUDA engine's model state (bf16 weights, the fp32
// master's low halves, fp32 gradients, AdamW m and v; train/gpu_memory.hpp lists every buffer);
// the CPU reference keeps full fp32 weights and gradients in every stage, 16P at stage 0,
// 8P + 8S, 8P + 12S and 8P + 16S at stages 1-3, plus staging (cpu_training_bytes).
//
// stage | sharded          | exchanged when            | collective per unit       | bytes per GPU
// ------+------------------+---------------------------+---------------------------+--------------
// 0     | nothing: full    | gradients, once per step: | all_reduce of the unit's  | 16P
//       | replicas         | in the last micro-batch,  | fp32 gradient, in place   |
//       |                  | as the backward finishes  | (cpu: one all_reduce of   |
//       |                  | each unit (cpu: after the | all P elements)           |
//       |                  | last micro-step)          |                           |
// ------+------------------+---------------------------+---------------------------+--------------
// 1     | AdamW m and v,   | gradients as stage 0;     | gradients as stage 0;     | 2WS + 4P +
//       | the master's low | weights after AdamW: each | weights: one in-place     | 10S
//       | halves (cpu:     | rank's updated shard to   | all_gather of the bf16    |
//       | AdamW m and v)   | every rank                | working copy (W S         |
//       |                  |                           | elements), not per unit   |
//       |                  |                           | (cpu: all_gather in       |
//       |                  |                           | allgather_bucket_size     |
//       |                  |                           | calls)                    |
// ------+------------------+---------------------------+---------------------------+--------------
// 2     | as 1, and the    | gradients: in every       | one reduce of the unit's  | 2WS + 14S +
//       | summed gradient  | micro-batch, as the       | fp32 gradient per owner   | 8U
//       |                  | backward finishes each    | of a part of it, into the |
//       |                  | unit (cpu: after the last | owner's shard (cpu:       |
//       |                  | micro-step); weights as   | reduce_scatter of all P   |
//       |                  | stage 1                   | in reduce_bucket_size     |
//       |                  |                           | calls)                    |
// ------+------------------+---------------------------+---------------------------+--------------
// 3     | as 2, and the    | gradients as stage 2      | weights: one broadcast    | 16S + 12U
//       | weights          | (cpu: in every            | per owner of a part of    |
//       |                  | micro-step, per unit);    | the unit into a unit      |
//       |                  | weights: before each      | buffer, the next unit's   |
//       |                  | unit's forward and again  | while this one computes   |
//       |                  | before its backward       | (cpu: all_gather);        |
//       |                  | (cuda: but for the last   | gradients as stage 2      |
//       |                  | two units, still          | (cpu: reduce_scatter)     |
//       |                  | resident; cpu: but for    |                           |
//       |                  | the embedding's backward) |                           |
//
// Stages 0-1 hold the whole summed gradient and take its norm; stages 2-3 take the square root
// of the ranks' summed shard sums of squares. With W = 1 the CUDA engine applies stage 0 (the
// one shard is the whole model); the CPU reference runs the requested stage, whose results equal
// stage 0's. Uneven shards: the last ones may be shorter (or empty); communication
// buffers pad them with zeros to S, and the padding never reaches the model or the optimizer.
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
