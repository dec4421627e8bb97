#pragma once
// Backend constructors, used by make_communicator and make_group_communicator only.
#include <memory>

namespace sxb {
class Communicator;
class MpiContext;
std::unique_ptr<Communicator> make_mpi_communicator(const MpiContext& mpi);
std::unique_ptr<Communicator> make_mpi_group_communicator(const MpiContext& mpi, int color);
#ifdef SXB_HAVE_CUDA
std::unique_ptr<Communicator> make_nccl_communicator(const MpiContext& mpi);
std::unique_ptr<Communicator> make_nccl_group_communicator(const MpiContext& mpi, int color);
#endif
}  // namespace sxb
