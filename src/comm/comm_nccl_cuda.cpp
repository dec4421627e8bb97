// The nccl backend: one process per GPU; the NCCL unique id travels over MPI (one per group for a
// group communicator: the ranks of one colour, e.g. one host's); every operation is
// enqueued on the communicator's own stream. synchronize() spins on the stream as nccl-tests does
// and checks NCCL's asynchronous error state while it waits, so a failed peer surfaces as an
// error here (and a silent hang is caught by the caller's watchdog).
#include <cuda_runtime.h>
#include <nccl.h>

#include <fmt/format.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "comm/comm_factories.hpp"
#include "comm/communicator.hpp"
#include "comm/mpi_context.hpp"

namespace sxb {

namespace {

ncclDataType_t nccl_type(DataType t) {
  switch (t) {
    case DataType::f32: return ncclFloat32;
    case DataType::f16: return ncclFloat16;
    case DataType::bf16: return ncclBfloat16;
  }
  return ncclFloat32;
}

class NcclCommunicator final : public Communicator {
 public:
  // color < 0: the whole world; otherwise the ranks that pass the same colour, ordered by world
  // rank (collective over the world: every rank calls it).
  NcclCommunicator(const MpiContext& mpi, int color) : mpi_(mpi) {
    int devices = 0;
    cudaError_t e = cudaGetDeviceCount(&devices);
    if (e != cudaSuccess || devices == 0) {
      throw environment_error(fmt::format("rank {} on host {}: no CUDA GPU is visible ({})",
                                          mpi.rank(), mpi.host(),
                                          e == cudaSuccess ? "0 devices" : cudaGetErrorString(e)));
    }
    if (mpi.local_size() > devices) {
      throw environment_error(fmt::format(
          "host {} runs {} ranks but has only {} GPU(s); start one rank per GPU", mpi.host(),
          mpi.local_size(), devices));
    }
    device_ = mpi.local_rank();
    cuda(cudaSetDevice(device_), "cudaSetDevice");
    cudaDeviceProp prop{};
    cuda(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
    name_ = prop.name;
    description_ = fmt::format("GPU {} {} [{:04x}:{:02x}:{:02x}.0]", device_, prop.name,
                               prop.pciDomainID, prop.pciBusID, prop.pciDeviceID);
    cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    ncclUniqueId id{};
    if (color < 0) {
      rank_ = mpi.rank();
      size_ = mpi.world_size();
      if (mpi.rank() == 0) nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
      mpi.broadcast(&id, sizeof id, 0);
    } else {
      // Every rank learns every colour; the first rank of each colour makes its group's id, and
      // one more gather hands each rank the id of its group.
      const std::vector<std::string> colors = mpi.all_gather(std::to_string(color));
      const std::string& mine = colors[static_cast<size_t>(mpi.rank())];
      int first = -1;
      rank_ = 0;
      size_ = 0;
      for (int r = 0; r < mpi.world_size(); ++r) {
        if (colors[static_cast<size_t>(r)] != mine) continue;
        if (first < 0) first = r;
        if (r < mpi.rank()) ++rank_;
        ++size_;
      }
      if (mpi.rank() == first) nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
      const std::vector<std::string> ids =
          mpi.all_gather(std::string(reinterpret_cast<const char*>(&id), sizeof id));
      std::memcpy(&id, ids[static_cast<size_t>(first)].data(), sizeof id);
    }
    nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
    int v = 0;
    ncclGetVersion(&v);
    version_ = fmt::format("NCCL {}.{}.{}", v / 10000, (v / 100) % 100, v % 100);
  }

  ~NcclCommunicator() override {
    if (comm_) {
      if (failed_) {
        ncclCommAbort(comm_);
      } else {
        ncclCommDestroy(comm_);
      }
    }
    if (stream_) cudaStreamDestroy(stream_);
  }

  Backend backend() const override { return Backend::nccl; }
  MemorySpace memory_space() const override { return MemorySpace::cuda; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string device_description() const override { return description_; }
  std::string device_name() const override { return name_; }
  int device_index() const override { return device_; }
  std::string library_version() const override { return version_; }
  void* native_stream() const override { return stream_; }

  void* allocate(size_t bytes) override {
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      throw environment_error(fmt::format("rank {} on host {}: cannot allocate {} bytes on GPU {}: {}",
                                          mpi_.rank(), mpi_.host(), bytes, device_,
                                          cudaGetErrorString(e)));
    }
    return p;
  }
  void release(void* p) noexcept override { cudaFree(p); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
  }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  }

  void all_reduce(const void* send, void* recv, size_t count, DataType t) override {
    nccl(ncclAllReduce(send, recv, count, nccl_type(t), ncclSum, comm_, stream_), "ncclAllReduce");
  }
  void all_gather(const void* send, void* recv, size_t send_count, DataType t) override {
    nccl(ncclAllGather(send, recv, send_count, nccl_type(t), comm_, stream_), "ncclAllGather");
  }
  void reduce_scatter(const void* send, void* recv, size_t recv_count, DataType t) override {
    nccl(ncclReduceScatter(send, recv, recv_count, nccl_type(t), ncclSum, comm_, stream_),
         "ncclReduceScatter");
  }
  void broadcast(const void* send, void* recv, size_t count, DataType t, int root) override {
    nccl(ncclBroadcast(send, recv, count, nccl_type(t), root, comm_, stream_), "ncclBroadcast");
  }
  void reduce(const void* send, void* recv, size_t count, DataType t, int root) override {
    nccl(ncclReduce(send, recv, count, nccl_type(t), ncclSum, root, comm_, stream_), "ncclReduce");
  }
  void all_to_all(const void* send, void* recv, size_t count, DataType t) override {
    const size_t block = count * dtype_size(t);
    nccl(ncclGroupStart(), "ncclGroupStart");
    for (int p = 0; p < size(); ++p) {
      nccl(ncclSend(static_cast<const char*>(send) + p * block, count, nccl_type(t), p, comm_,
                    stream_),
           "ncclSend");
      nccl(ncclRecv(static_cast<char*>(recv) + p * block, count, nccl_type(t), p, comm_, stream_),
           "ncclRecv");
    }
    nccl(ncclGroupEnd(), "ncclGroupEnd");
  }
  void send_recv(const void* send, int send_peer, void* recv, int recv_peer, size_t count,
                 DataType t) override {
    nccl(ncclGroupStart(), "ncclGroupStart");
    nccl(ncclSend(send, count, nccl_type(t), send_peer, comm_, stream_), "ncclSend");
    nccl(ncclRecv(recv, count, nccl_type(t), recv_peer, comm_, stream_), "ncclRecv");
    nccl(ncclGroupEnd(), "ncclGroupEnd");
  }

  void synchronize() override {
    for (;;) {
      cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) cuda(e, "stream synchronize");
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        failed_ = true;
        throw runtime_error(fmt::format("rank {} on host {} (GPU {}): NCCL asynchronous error: {} ({})",
                                        mpi_.rank(), mpi_.host(), device_, ncclGetErrorString(async),
                                        ncclGetLastError(comm_)));
      }
    }
  }

 private:
  void cuda(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return;
    failed_ = true;
    throw runtime_error(fmt::format("rank {} on host {} (GPU {}): {} failed: {}", mpi_.rank(),
                                    mpi_.host(), device_, what, cudaGetErrorString(e)));
  }
  void nccl(ncclResult_t r, const char* what) {
    if (r == ncclSuccess || r == ncclInProgress) return;
    failed_ = true;
    throw runtime_error(fmt::format("rank {} on host {} (GPU {}): {} failed: {} ({})", mpi_.rank(),
                                    mpi_.host(), device_, what, ncclGetErrorString(r),
                                    comm_ ? ncclGetLastError(comm_) : ncclGetLastError(nullptr)));
  }

  const MpiContext& mpi_;
  int rank_ = 0, size_ = 1;  // in this communicator
  int device_ = -1;
  std::string name_, description_, version_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const MpiContext& mpi) {
  return std::make_unique<NcclCommunicator>(mpi, -1);
}

std::unique_ptr<Communicator> make_nccl_group_communicator(const MpiContext& mpi, int color) {
  return std::make_unique<NcclCommunicator>(mpi, color);
}

}  // namespace sxb
