#pragma once
// The one rule for ending a multi-rank job after an error on one rank, used by every command
// that runs under MPI (nccl, run, train).
#include "comm/mpi_context.hpp"
#include "core/error.hpp"

namespace sxb {

// Call from a command's catch of sxb::Error, then rethrow. In a job of more than one rank an
// error on one rank leaves its peers waiting in a collective that will never complete, so this
// prints "sxbench: error: rank R on HOST: <message>" to stderr and aborts every rank with the
// error's exit code. It returns without doing anything when the job has one rank (the CLI prints
// the error) or the error is a completed check failure (ExitCode::failure: every rank reaches the
// same verdict through the same collectives and exits on its own).
void abort_job_on_error(const MpiContext& mpi, const Error& e);

}  // namespace sxb
