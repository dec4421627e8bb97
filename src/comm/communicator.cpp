#include "comm/communicator.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "comm/comm_factories.hpp"
#include "comm/group_communicator.hpp"

namespace sxb {

Backend parse_backend(const std::string& name) {
  if (name == "mpi") return Backend::mpi;
  if (name == "nccl") return Backend::nccl;
  throw usage_error(fmt::format("unknown backend '{}' (known: nccl, mpi)", name));
}

std::string backend_name(Backend b) { return b == Backend::mpi ? "mpi" : "nccl"; }

std::unique_ptr<Communicator> make_communicator(Backend b, const MpiContext& mpi) {
  if (b == Backend::mpi) return make_mpi_communicator(mpi);
#ifdef SXB_HAVE_CUDA
  return make_nccl_communicator(mpi);
#else
  throw environment_error(
      "the nccl backend needs a CUDA build of sxbench; this binary was built without CUDA "
      "(use --backend mpi, or rebuild with -DSXB_CUDA=ON)");
#endif
}

std::unique_ptr<Communicator> make_group_communicator(Backend b, const MpiContext& mpi,
                                                     int color) {
  if (color < 0) throw usage_error("make_group_communicator: the colour must be 0 or more");
  if (b == Backend::mpi) return make_mpi_group_communicator(mpi, color);
#ifdef SXB_HAVE_CUDA
  return make_nccl_group_communicator(mpi, color);
#else
  throw environment_error(
      "the nccl backend needs a CUDA build of sxbench; this binary was built without CUDA "
      "(use --backend mpi, or rebuild with -DSXB_CUDA=ON)");
#endif
}

}  // namespace sxb
