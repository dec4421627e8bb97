#include "comm/mpi_context.hpp"

#include <mpi.h>
#include <unistd.h>

#include <cstdlib>
#include <fmt/format.h>
#include <set>

#include "core/error.hpp"

namespace sxb {

namespace {
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw runtime_error(fmt::format("MPI {} failed: {}", what, std::string(msg, len)));
  }
}
}  // namespace

namespace {
// Read before MPI_Init: a singleton MPI start sets PMIx variables of its own.
std::string detect_launcher() {
  if (std::getenv("OMPI_COMM_WORLD_SIZE")) return "mpirun";
  if (std::getenv("SLURM_STEP_ID") || std::getenv("SLURM_PROCID")) return "srun";
  if (std::getenv("PMI_RANK") || std::getenv("PMIX_RANK")) return "pmi";
  return "singleton";
}
}  // namespace

MpiContext::MpiContext(int* argc, char*** argv) : launcher_(detect_launcher()) {
  int provided = 0;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "init");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_);
  MPI_Comm local;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
        "comm_split_type");
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
  char name[256] = {0};
  ::gethostname(name, sizeof name - 1);
  hosts_ = all_gather(name);
  node_count_ = static_cast<int>(std::set<std::string>(hosts_.begin(), hosts_.end()).size());
}

MpiContext::~MpiContext() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

std::string MpiContext::library_version() const {
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(v, &len);
  std::string s(v, len);
  if (auto nl = s.find_first_of("\r\n"); nl != std::string::npos) s.resize(nl);
  if (auto comma = s.find(", package"); comma != std::string::npos) s.resize(comma);
  return s;
}

void MpiContext::barrier() const { check(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }

double MpiContext::max(double v) const {
  double out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD), "allreduce");
  return out;
}
double MpiContext::min(double v) const {
  double out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD), "allreduce");
  return out;
}
double MpiContext::sum(double v) const {
  double out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "allreduce");
  return out;
}
int64_t MpiContext::sum(int64_t v) const {
  int64_t out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD), "allreduce");
  return out;
}

std::vector<double> MpiContext::gather_to_root(double v) const {
  std::vector<double> all(rank_ == 0 ? world_ : 0);
  check(MPI_Gather(&v, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD), "gather");
  return all;
}

std::vector<std::string> MpiContext::all_gather(const std::string& s) const {
  int len = static_cast<int>(s.size());
  std::vector<int> lens(world_);
  check(MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD), "allgather");
  std::vector<int> displs(world_, 0);
  int total = 0;
  for (int r = 0; r < world_; ++r) {
    displs[r] = total;
    total += lens[r];
  }
  std::string buf(static_cast<size_t>(total), '\0');
  check(MPI_Allgatherv(s.data(), len, MPI_CHAR, buf.data(), lens.data(), displs.data(), MPI_CHAR,
                       MPI_COMM_WORLD),
        "allgatherv");
  std::vector<std::string> out(world_);
  for (int r = 0; r < world_; ++r) out[r] = buf.substr(displs[r], lens[r]);
  return out;
}

void MpiContext::broadcast(void* data, size_t bytes, int root) const {
  check(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "bcast");
}

void MpiContext::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace sxb
