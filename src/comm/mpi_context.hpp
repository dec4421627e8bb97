#pragma once
// MPI bootstrap: rank, world size, node-local rank and host names. Works under mpirun (OpenMPI),
// srun (Slurm with PMIx) and as a singleton when started directly. MPI carries bootstrap and
// host-side gathering only; GPU traffic goes through NCCL.
#include <cstdint>
#include <string>
#include <vector>

namespace sxb {

class MpiContext {
 public:
  // Initialises MPI (thread level FUNNELED: only the main thread calls MPI).
  MpiContext(int* argc, char*** argv);
  ~MpiContext();
  MpiContext(const MpiContext&) = delete;
  MpiContext& operator=(const MpiContext&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  int node_count() const { return node_count_; }
  const std::string& host() const { return hosts_[rank_]; }
  const std::vector<std::string>& hosts() const { return hosts_; }  // by rank
  const std::string& launcher() const { return launcher_; }  // mpirun, srun, pmi or singleton
  std::string library_version() const;  // MPI_Get_library_version, first line

  void barrier() const;
  double max(double v) const;
  double min(double v) const;
  double sum(double v) const;
  int64_t sum(int64_t v) const;
  std::vector<double> gather_to_root(double v) const;  // full vector on rank 0, empty elsewhere
  std::vector<std::string> all_gather(const std::string& s) const;
  void broadcast(void* data, size_t bytes, int root) const;
  // Ends every rank of the job (used after an unrecoverable error on one rank).
  [[noreturn]] void abort(int code) const;

 private:
  std::string launcher_;
  int rank_ = 0, world_ = 1, local_rank_ = 0, local_size_ = 1, node_count_ = 1;
  std::vector<std::string> hosts_;
};

}  // namespace sxb
