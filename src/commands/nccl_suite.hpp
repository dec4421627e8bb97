#pragma once
// The collective suite as a building block of commands (see nccl_suite.cpp).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/collective_sweep.hpp"
#include "core/collective_results.hpp"
#include "comm/communicator.hpp"
#include "comm/mpi_context.hpp"
#include "comm/watchdog.hpp"

namespace sxb {

// "auto" -> nccl when a GPU is visible, else mpi; otherwise the named backend.
Backend choose_backend(const std::string& requested);
// Creates the communicator under the watchdog (NCCL start-up can hang on a broken fabric).
std::unique_ptr<Communicator> start_communicator(Backend backend, const MpiContext& mpi,
                                                 Watchdog& watchdog, double timeout_s);
// Runs every collective of `ops`; rank 0 writes nccl_<op>.log and nccl.json into out_dir after
// each collective (out_dir is only used on rank 0) and echoes nccl-tests tables when asked.
CollectiveReport run_collective_suite(Communicator& comm, const MpiContext& mpi, Watchdog& watchdog,
                                      const std::vector<const CollectiveSpec*>& ops,
                                      const SweepConfig& cfg, const std::filesystem::path& out_dir,
                                      bool echo_tables);

}  // namespace sxb
