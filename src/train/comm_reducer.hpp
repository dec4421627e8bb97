#pragma once
// The GradientReducer of an MPI job (train/trainer.hpp): gradient and parameter collectives
// through a Communicator (fp32; host memory on the mpi backend), scalar sums through the MPI
// context. With one rank every collective is the identity (a copy when send != recv).
#include <algorithm>
#include <cstdint>

#include "comm/communicator.hpp"
#include "comm/mpi_context.hpp"
#include "train/trainer.hpp"

namespace sxb {

class CommReducer final : public GradientReducer {
 public:
  CommReducer(Communicator& comm, const MpiContext& mpi) : comm_(comm), mpi_(mpi) {}
  int rank() const override { return mpi_.rank(); }
  int world_size() const override { return mpi_.world_size(); }
  void all_reduce_sum(float* data, int64_t count) override {
    if (mpi_.world_size() > 1) comm_.all_reduce(data, data, size_t(count), DataType::f32);
  }
  void reduce_scatter_sum(const float* send, float* recv, int64_t shard_count) override {
    if (mpi_.world_size() > 1) {
      comm_.reduce_scatter(send, recv, size_t(shard_count), DataType::f32);
    } else if (send != recv) {
      std::copy(send, send + shard_count, recv);
    }
  }
  void all_gather(const float* send, float* recv, int64_t shard_count) override {
    if (mpi_.world_size() > 1) {
      comm_.all_gather(send, recv, size_t(shard_count), DataType::f32);
    } else if (send != recv) {
      std::copy(send, send + shard_count, recv);
    }
  }
  double sum(double v) override { return mpi_.sum(v); }
  int64_t sum(int64_t v) override { return mpi_.sum(v); }
  double max(double v) override { return mpi_.max(v); }
  double min(double v) override { return mpi_.min(v); }

 private:
  Communicator& comm_;
  const MpiContext& mpi_;
};

}  // namespace sxb
