// The mpi backend: host-memory collectives over MPI_COMM_WORLD (or, for a group communicator,
// the ranks of one colour split from it), each under the job's watchdog (MpiContext::guard). 16-bit floating-point sums use
// user-defined MPI operations that accumulate in float, as NCCL does for half and bfloat16.
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <vector>

#include "core/error.hpp"
#include "comm/comm_factories.hpp"
#include "comm/communicator.hpp"
#include "comm/mpi_context.hpp"

namespace sxb {

namespace {

template <float (*Load)(uint16_t), uint16_t (*Store)(float)>
void sum16(void* in, void* inout, int* len, MPI_Datatype*) {
  auto* a = static_cast<const uint16_t*>(in);
  auto* b = static_cast<uint16_t*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = Store(Load(a[i]) + Load(b[i]));
}

class MpiCommunicator final : public Communicator {
 public:
  // color < 0: the whole world; otherwise the ranks that pass the same colour, ordered by world
  // rank (collective over the world: every rank calls it).
  MpiCommunicator(const MpiContext& mpi, int color) : mpi_(mpi) {
    if (color >= 0) {
      const auto g = mpi_.guard("MPI comm_split");
      check(MPI_Comm_split(MPI_COMM_WORLD, color, mpi.rank(), &comm_), "comm_split");
    }
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Op_create(&sum16<half_bits_to_float, float_to_half_bits>, 1, &half_sum_);
    MPI_Op_create(&sum16<bf16_bits_to_float, float_to_bf16_bits>, 1, &bf16_sum_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
      MPI_Op_free(&half_sum_);
      MPI_Op_free(&bf16_sum_);
      if (comm_ != MPI_COMM_WORLD) MPI_Comm_free(&comm_);
    }
  }

  Backend backend() const override { return Backend::mpi; }
  MemorySpace memory_space() const override { return MemorySpace::host; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string device_description() const override { return "host CPU memory"; }
  std::string device_name() const override { return "CPU"; }
  int device_index() const override { return -1; }
  std::string library_version() const override { return mpi_.library_version(); }

  void* allocate(size_t bytes) override {
    void* p = std::aligned_alloc(64, ((bytes + 63) / 64) * 64 + 64);
    if (!p) {
      throw environment_error(fmt::format("rank {} on {}: cannot allocate {} bytes of host memory",
                                          mpi_.rank(), mpi_.host(), bytes));
    }
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }

  void all_reduce(const void* send, void* recv, size_t count, DataType t) override {
    const auto g = mpi_.guard(fmt::format("MPI all_reduce of {} bytes", count * dtype_size(t)));
    check(MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, icount(count), mpi_type(t),
                        sum_op(t), comm_),
          "all_reduce");
  }

  void all_gather(const void* send, void* recv, size_t send_count, DataType t) override {
    const auto g = mpi_.guard(fmt::format("MPI all_gather of {} bytes per rank", send_count * dtype_size(t)));
    const char* own = static_cast<const char*>(recv) + rank() * send_count * dtype_size(t);
    check(MPI_Allgather(send == own ? MPI_IN_PLACE : send, icount(send_count), mpi_type(t), recv,
                        icount(send_count), mpi_type(t), comm_),
          "all_gather");
  }

  void reduce_scatter(const void* send, void* recv, size_t recv_count, DataType t) override {
    const auto g = mpi_.guard(fmt::format("MPI reduce_scatter of {} bytes per rank", recv_count * dtype_size(t)));
    const size_t bytes = recv_count * dtype_size(t);
    const char* own = static_cast<const char*>(send) + rank() * bytes;
    if (recv == own) {
      // MPI's in-place form leaves the result at the buffer's start, NCCL's at the rank's block.
      std::vector<char> tmp(bytes);
      check(MPI_Reduce_scatter_block(send, tmp.data(), icount(recv_count), mpi_type(t), sum_op(t),
                                     comm_),
            "reduce_scatter");
      std::memcpy(recv, tmp.data(), bytes);
      return;
    }
    check(MPI_Reduce_scatter_block(send, recv, icount(recv_count), mpi_type(t), sum_op(t),
                                   comm_),
          "reduce_scatter");
  }

  void broadcast(const void* send, void* recv, size_t count, DataType t, int root) override {
    const auto g = mpi_.guard(fmt::format("MPI broadcast of {} bytes", count * dtype_size(t)));
    if (rank() == root && send != recv) std::memcpy(recv, send, count * dtype_size(t));
    check(MPI_Bcast(recv, icount(count), mpi_type(t), root, comm_), "broadcast");
  }

  void reduce(const void* send, void* recv, size_t count, DataType t, int root) override {
    const auto g = mpi_.guard(fmt::format("MPI reduce of {} bytes", count * dtype_size(t)));
    const void* s = (send == recv && rank() == root) ? MPI_IN_PLACE : send;
    check(MPI_Reduce(s, recv, icount(count), mpi_type(t), sum_op(t), root, comm_),
          "reduce");
  }

  void all_to_all(const void* send, void* recv, size_t count, DataType t) override {
    const auto g = mpi_.guard(fmt::format("MPI all_to_all of {} bytes per rank", count * dtype_size(t)));
    check(MPI_Alltoall(send, icount(count), mpi_type(t), recv, icount(count), mpi_type(t),
                       comm_),
          "all_to_all");
  }

  void send_recv(const void* send, int send_peer, void* recv, int recv_peer, size_t count,
                 DataType t) override {
    const auto g = mpi_.guard(fmt::format("MPI send_recv of {} bytes", count * dtype_size(t)));
    check(MPI_Sendrecv(send, icount(count), mpi_type(t), send_peer, 7, recv, icount(count),
                       mpi_type(t), recv_peer, 7, comm_, MPI_STATUS_IGNORE),
          "send_recv");
  }

  void synchronize() override {}  // every operation above completes before it returns

 private:
  static MPI_Datatype mpi_type(DataType t) { return t == DataType::f32 ? MPI_FLOAT : MPI_UINT16_T; }
  MPI_Op sum_op(DataType t) const {
    switch (t) {
      case DataType::f32: return MPI_SUM;
      case DataType::f16: return half_sum_;
      case DataType::bf16: return bf16_sum_;
    }
    return MPI_SUM;
  }
  int icount(size_t count) const {
    if (count > static_cast<size_t>(INT_MAX)) {
      throw usage_error(fmt::format(
          "mpi backend: {} elements exceed MPI's count limit ({}); use a smaller maximum size",
          count, INT_MAX));
    }
    return static_cast<int>(count);
  }
  void check(int rc, const char* op) const {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw runtime_error(fmt::format("rank {} on host {}: MPI {} failed: {}", mpi_.rank(), mpi_.host(),
                                    op, std::string(msg, len)));
  }

  const MpiContext& mpi_;
  MPI_Comm comm_ = MPI_COMM_WORLD;
  int rank_ = 0, size_ = 1;
  MPI_Op half_sum_{}, bf16_sum_{};
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(const MpiContext& mpi) {
  return std::make_unique<MpiCommunicator>(mpi, -1);
}

std::unique_ptr<Communicator> make_mpi_group_communicator(const MpiContext& mpi, int color) {
  return std::make_unique<MpiCommunicator>(mpi, color);
}

}  // namespace sxb
