#pragma once
// Backend constructors, used by make_communicator only.
#include <memory>

namespace sxb {
class Communicator;
class MpiContext;
std::unique_ptr<Communicator> make_mpi_communicator(const MpiContext& mpi);
#ifdef SXB_HAVE_CUDA
std::unique_ptr<Communicator> make_nccl_communicator(const MpiContext& mpi);
#endif
}  // namespace sxb
