#pragma once
// preflight as a building block of commands: `sxbench preflight` and phase 0 of `sxbench run`.
// Each host is checked once (by its first rank), every host's result reaches rank 0, and the
// checks whose values differ between hosts are listed.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/mpi_context.hpp"
#include "core/env_config.hpp"

namespace sxb {

// This host against the profile (`profile_arg` as given, empty: the request's node profile), with
// the .env overrides of `env`, reading every file under `root`: preflight.json's members for this
// host (schema sxbench.preflight/1). Throws a one-line sxb::Error on a missing root or profile and
// on a malformed profile or setting.
nlohmann::json check_this_host(const std::string& root, const std::string& profile_arg,
                               const EnvConfig& env);
// The same errors as check_this_host, without checking anything: for commands to fail fast on
// bad input before MPI starts.
void check_preflight_inputs(const std::string& root, const std::string& profile_arg,
                            const EnvConfig& env);

// Under MPI: each host's first rank (local rank 0) runs `check_host` for its host; rank 0
// returns every host's document in rank order of those first ranks, the other ranks an empty
// list. A rank that fails ends the job as every command does (comm/job_abort.hpp).
std::vector<nlohmann::json> gather_host_preflights(const MpiContext& mpi,
                                                   const std::function<nlohmann::json()>& check_host);

// The checks (same id and subject) whose found value is not the same on every host that ran
// them: [{"check", "subject", "values": [{"host", "found"}...]}], in the first host's order.
nlohmann::json host_differences(const std::vector<nlohmann::json>& documents);

// preflight.json for one or several hosts: the first host's document, and with several hosts
// "hosts" (every host's document), "differences" and "all_passed".
nlohmann::json preflight_file(const std::vector<nlohmann::json>& documents);

}  // namespace sxb
