#pragma once
// The collective operations that `sxbench nccl` measures. Each is one entry in a table stating
// its element counts, its bus-bandwidth factor, how it runs, where its in-place buffers lie and
// what its output must be. Adding an operation is one new entry.
//
// Sizes and factors are nccl-tests' (doc/PERFORMANCE.md there): for n ranks,
//   all_reduce 2(n-1)/n, all_gather (n-1)/n, reduce_scatter (n-1)/n, alltoall (n-1)/n,
//   broadcast 1, reduce 1, sendrecv 1;
// "size" is the per-rank buffer the operation is named by: the full buffer of all_reduce,
// broadcast, reduce and sendrecv, the gathered output of all_gather, the scattered input of
// reduce_scatter, the whole send buffer of alltoall.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "comm/communicator.hpp"

namespace sxb {

struct CollectiveCounts {
  size_t send_count = 0;   // elements in the send buffer
  size_t recv_count = 0;   // elements in the receive buffer
  size_t param_count = 0;  // the count passed to the operation
  size_t size_bytes = 0;   // the "size" column
  size_t count = 0;        // the "count" column
};

// Output elements [out_offset, out_offset+count) must equal the pattern of src_rank (or the sum
// over all ranks, kAllRanks) at src_offset onwards.
struct ExpectedSegment {
  size_t out_offset;
  size_t count;
  int src_rank;
  uint64_t src_offset;
};

struct CollectiveSpec {
  std::string_view name;      // "all_reduce"
  std::string_view log_name;  // "allreduce" -> nccl_allreduce.log
  bool reduces;               // has a reduction operator (sum)
  bool rooted;                // takes a root rank
  bool in_place;              // has an in-place form
  CollectiveCounts (*counts)(uint64_t bytes, size_t type_size, int nranks);
  double (*bus_factor)(int nranks);
  void (*run)(Communicator& c, const void* send, void* recv, const CollectiveCounts& k, DataType t,
              int root);
  // In-place form: offsets (elements) of the send and receive windows inside one buffer of
  // max(send_count, recv_count) elements.
  size_t (*in_place_send_offset)(const CollectiveCounts& k, int rank);
  size_t (*in_place_recv_offset)(const CollectiveCounts& k, int rank);
  std::vector<ExpectedSegment> (*expected)(const CollectiveCounts& k, int rank, int nranks,
                                           int root);
};

const std::vector<CollectiveSpec>& collectives();
// Throws sxb::Error listing the known names.
const CollectiveSpec& find_collective(std::string_view name);
// "all" or a comma-separated list -> specs in table order of the request.
std::vector<const CollectiveSpec*> parse_collective_list(std::string_view list);

}  // namespace sxb
