#include "comm/job_abort.hpp"

#include <cstdio>

namespace sxb {

void abort_job_on_error(const MpiContext& mpi, const Error& e) {
  if (mpi.world_size() <= 1 || e.code() == ExitCode::failure) return;
  std::fprintf(stderr, "sxbench: error: rank %d on %s: %s\n", mpi.rank(), mpi.host().c_str(),
               e.what());
  std::fflush(stderr);
  mpi.abort(static_cast<int>(e.code()));
}

}  // namespace sxb
