#pragma once
// Communicators over part of the job: the ranks that pass the same colour (for example every rank
// of one host), ordered by world rank. Collective over the whole job: every rank calls it, each
// with its own colour (0 or more). The mpi backend splits MPI_COMM_WORLD; the nccl backend makes
// one NCCL communicator per colour, its unique id made by the colour's first rank. rank() and
// size() are within the group; errors name the world rank.
#include <memory>

#include "comm/communicator.hpp"

namespace sxb {

std::unique_ptr<Communicator> make_group_communicator(Backend b, const MpiContext& mpi, int color);

}  // namespace sxb
