#pragma once
// A communicator over all ranks of the job, with two backends:
//   nccl: buffers in GPU memory, one process per GPU, ops enqueued on the communicator's stream;
//   mpi:  buffers in host memory, ops complete before they return (any machine, CI included).
// Reductions are sums. Counts are in elements of `type`. In-place forms follow NCCL's rules:
// all_gather in place when send == recv + rank*send_count; reduce_scatter in place when
// recv == send + rank*recv_count; the others when send == recv.
#include <cstddef>
#include <memory>
#include <string>

#include "core/numeric.hpp"

namespace sxb {

class MpiContext;

enum class Backend { mpi, nccl };
enum class MemorySpace { host, cuda };

Backend parse_backend(const std::string& name);  // "mpi" | "nccl"
std::string backend_name(Backend b);

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual Backend backend() const = 0;
  virtual MemorySpace memory_space() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "host CPU" or "GPU 0 NVIDIA H200 [0000:1b:00.0]"
  virtual std::string device_description() const = 0;
  virtual std::string device_name() const = 0;  // "CPU" or the GPU's name
  virtual int device_index() const = 0;         // -1 for host memory
  virtual std::string library_version() const = 0;  // "NCCL 2.28.3" or the MPI library

  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* p) noexcept = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t bytes) = 0;

  virtual void all_reduce(const void* send, void* recv, size_t count, DataType t) = 0;
  virtual void all_gather(const void* send, void* recv, size_t send_count, DataType t) = 0;
  virtual void reduce_scatter(const void* send, void* recv, size_t recv_count, DataType t) = 0;
  virtual void broadcast(const void* send, void* recv, size_t count, DataType t, int root) = 0;
  virtual void reduce(const void* send, void* recv, size_t count, DataType t, int root) = 0;
  // Every rank sends block p (count elements) of `send` to rank p and receives rank p's block
  // into block p of `recv`.
  virtual void all_to_all(const void* send, void* recv, size_t count, DataType t) = 0;
  // Sends `count` elements to `send_peer` and receives `count` from `recv_peer`, concurrently.
  virtual void send_recv(const void* send, int send_peer, void* recv, int recv_peer, size_t count,
                         DataType t) = 0;

  // Waits until every operation enqueued so far on this rank has completed. Throws sxb::Error
  // naming rank and host on an asynchronous communicator error.
  virtual void synchronize() = 0;
  // nccl: the cudaStream_t the operations are enqueued on, so callers can order them against
  // their own streams with events; mpi: null (operations complete before they return).
  virtual void* native_stream() const { return nullptr; }
};

// Creates the backend's communicator over all ranks of `mpi`. For nccl, each rank takes GPU
// local_rank; too few GPUs on a host is an error naming the host.
std::unique_ptr<Communicator> make_communicator(Backend b, const MpiContext& mpi);

// RAII buffer in the communicator's memory space.
class CommBuffer {
 public:
  CommBuffer() = default;
  CommBuffer(Communicator& c, size_t bytes) : comm_(&c), bytes_(bytes), p_(c.allocate(bytes)) {}
  ~CommBuffer() { reset(); }
  CommBuffer(CommBuffer&& o) noexcept { *this = std::move(o); }
  CommBuffer& operator=(CommBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      comm_ = o.comm_;
      bytes_ = o.bytes_;
      p_ = o.p_;
      o.p_ = nullptr;
    }
    return *this;
  }
  void reset() noexcept {
    if (p_) comm_->release(p_);
    p_ = nullptr;
  }
  void* data() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  Communicator* comm_ = nullptr;
  size_t bytes_ = 0;
  void* p_ = nullptr;
};

}  // namespace sxb
