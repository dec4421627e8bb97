#include "bench/collectives.hpp"

#include <fmt/format.h>

#include "bench/pattern.hpp"
#include "core/error.hpp"
#include "core/units.hpp"

namespace sxb {

namespace {

CollectiveCounts whole_buffer(uint64_t bytes, size_t ts, int) {
  const size_t n = bytes / ts;
  return {n, n, n, n * ts, n};
}

// Buffers split into one block per rank; the size rounds down to a multiple of nranks elements.
CollectiveCounts gathered_output(uint64_t bytes, size_t ts, int nranks) {
  const size_t block = bytes / ts / nranks;
  return {block, block * nranks, block, block * nranks * ts, block * nranks};
}
CollectiveCounts scattered_input(uint64_t bytes, size_t ts, int nranks) {
  const size_t block = bytes / ts / nranks;
  return {block * nranks, block, block, block * nranks * ts, block * nranks};
}
CollectiveCounts all_to_all_counts(uint64_t bytes, size_t ts, int nranks) {
  const size_t block = bytes / ts / nranks;
  return {block * nranks, block * nranks, block, block * nranks * ts, block * nranks};
}

double factor_one(int) { return 1.0; }
double factor_ring(int n) { return n > 0 ? double(n - 1) / n : 0.0; }
double factor_all_reduce(int n) { return n > 0 ? 2.0 * (n - 1) / n : 0.0; }

size_t at_zero(const CollectiveCounts&, int) { return 0; }
size_t at_rank_block(const CollectiveCounts& k, int rank) { return k.param_count * rank; }

using Segments = std::vector<ExpectedSegment>;

const std::vector<CollectiveSpec> kCollectives = {
    {"all_reduce", "allreduce", true, false, true, whole_buffer, factor_all_reduce,
     [](Communicator& c, const void* s, void* r, const CollectiveCounts& k, DataType t, int) {
       c.all_reduce(s, r, k.param_count, t);
     },
     at_zero, at_zero,
     [](const CollectiveCounts& k, int, int, int) { return Segments{{0, k.recv_count, kAllRanks, 0}}; }},

    {"all_gather", "allgather", false, false, true, gathered_output, factor_ring,
     [](Communicator& c, const void* s, void* r, const CollectiveCounts& k, DataType t, int) {
       c.all_gather(s, r, k.param_count, t);
     },
     at_rank_block, at_zero,
     [](const CollectiveCounts& k, int, int n, int) {
       Segments out;
       for (int p = 0; p < n; ++p) out.push_back({p * k.param_count, k.param_count, p, 0});
       return out;
     }},

    {"reduce_scatter", "reducescatter", true, false, true, scattered_input, factor_ring,
     [](Communicator& c, const void* s, void* r, const CollectiveCounts& k, DataType t, int) {
       c.reduce_scatter(s, r, k.param_count, t);
     },
     at_zero, at_rank_block,
     [](const CollectiveCounts& k, int rank, int, int) {
       return Segments{{0, k.param_count, kAllRanks, uint64_t(rank) * k.param_count}};
     }},

    {"broadcast", "broadcast", false, true, true, whole_buffer, factor_one,
     [](Communicator& c, const void* s, void* r, const CollectiveCounts& k, DataType t, int root) {
       c.broadcast(s, r, k.param_count, t, root);
     },
     at_zero, at_zero,
     [](const CollectiveCounts& k, int, int, int root) { return Segments{{0, k.recv_count, root, 0}}; }},

    {"reduce", "reduce", true, true, true, whole_buffer, factor_one,
     [](Communicator& c, const void* s, void* r, const CollectiveCounts& k, DataType t, int root) {
       c.reduce(s, r, k.param_count, t, root);
     },
     at_zero, at_zero,
     [](const CollectiveCounts& k, int rank, int, int root) {
       return rank == root ? Segments{{0, k.recv_count, kAllRanks, 0}} : Segments{};
     }},

    {"alltoall", "alltoall", false, false, false, all_to_all_counts, factor_ring,
     [](Communicator& c, const void* s, void* r, const CollectiveCounts& k, DataType t, int) {
       c.all_to_all(s, r, k.param_count, t);
     },
     at_zero, at_zero,
     [](const CollectiveCounts& k, int rank, int n, int) {
       Segments out;
       for (int p = 0; p < n; ++p) {
         out.push_back({p * k.param_count, k.param_count, p, uint64_t(rank) * k.param_count});
       }
       return out;
     }},

    // Each rank sends to rank+1 and receives from rank-1 (a ring), all pairs at once.
    {"sendrecv", "sendrecv", false, false, false, whole_buffer, factor_one,
     [](Communicator& c, const void* s, void* r, const CollectiveCounts& k, DataType t, int) {
       const int n = c.size();
       c.send_recv(s, (c.rank() + 1) % n, r, (c.rank() + n - 1) % n, k.param_count, t);
     },
     at_zero, at_zero,
     [](const CollectiveCounts& k, int rank, int n, int) {
       return Segments{{0, k.recv_count, (rank + n - 1) % n, 0}};
     }},
};

}  // namespace

const std::vector<CollectiveSpec>& collectives() { return kCollectives; }

const CollectiveSpec& find_collective(std::string_view name) {
  for (const auto& c : kCollectives) {
    if (c.name == name || c.log_name == name) return c;
  }
  std::vector<std::string_view> names;
  for (const auto& c : kCollectives) names.push_back(c.name);
  throw usage_error(fmt::format("unknown collective '{}' (known: {}, or all)", name,
                                fmt::join(names, ", ")));
}

std::vector<const CollectiveSpec*> parse_collective_list(std::string_view list) {
  std::vector<const CollectiveSpec*> out;
  if (list == "all") {
    for (const auto& c : kCollectives) out.push_back(&c);
    return out;
  }
  for (std::string_view item : split_comma_list(list)) {
    if (item.empty()) throw usage_error(fmt::format("empty name in collective list '{}'", list));
    const CollectiveSpec* spec = &find_collective(item);
    bool seen = false;
    for (auto* s : out) seen = seen || s == spec;
    if (!seen) out.push_back(spec);
  }
  return out;
}

}  // namespace sxb
