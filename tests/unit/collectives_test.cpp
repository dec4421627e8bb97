#include <gtest/gtest.h>

#include "bench/collectives.hpp"
#include "bench/pattern.hpp"
#include "core/error.hpp"

namespace sxb {
namespace {

TEST(BusFactor, MatchesNcclTests) {
  struct Case {
    const char* op;
    int n;
    double factor;
  };
  const Case cases[] = {
      {"all_reduce", 1, 0.0},    {"all_reduce", 2, 1.0},      {"all_reduce", 8, 1.75},
      {"all_reduce", 16, 1.875}, {"all_gather", 2, 0.5},      {"all_gather", 8, 0.875},
      {"reduce_scatter", 8, 0.875}, {"alltoall", 8, 0.875},   {"broadcast", 8, 1.0},
      {"reduce", 8, 1.0},        {"sendrecv", 8, 1.0},
  };
  for (const auto& c : cases) {
    EXPECT_DOUBLE_EQ(find_collective(c.op).bus_factor(c.n), c.factor) << c.op << " n=" << c.n;
  }
}

TEST(Counts, RoundToWholeElementsPerRank) {
  // 8 GiB of float on 2 ranks.
  const uint64_t b = 8ull << 30;
  auto ar = find_collective("all_reduce").counts(b, 4, 2);
  EXPECT_EQ(ar.param_count, 2147483648u);
  EXPECT_EQ(ar.size_bytes, b);
  auto ag = find_collective("all_gather").counts(b, 4, 2);
  EXPECT_EQ(ag.send_count, 1073741824u);
  EXPECT_EQ(ag.recv_count, 2147483648u);
  EXPECT_EQ(ag.size_bytes, b);
  auto rs = find_collective("reduce_scatter").counts(b, 4, 2);
  EXPECT_EQ(rs.send_count, 2147483648u);
  EXPECT_EQ(rs.recv_count, 1073741824u);
  // 100 bytes of half on 8 ranks: 50 elements -> 6 per rank -> 48 elements, 96 bytes.
  auto a2a = find_collective("alltoall").counts(100, 2, 8);
  EXPECT_EQ(a2a.param_count, 6u);
  EXPECT_EQ(a2a.send_count, 48u);
  EXPECT_EQ(a2a.size_bytes, 96u);
  // Below one element per rank there is nothing to measure.
  EXPECT_EQ(find_collective("all_gather").counts(8, 4, 4).count, 0u);
}

TEST(Expected, SegmentsDescribeEachOperation) {
  const int n = 4, rank = 2, root = 1;
  auto k = find_collective("all_gather").counts(4 * 4 * 10, 4, n);
  auto ag = find_collective("all_gather").expected(k, rank, n, root);
  ASSERT_EQ(ag.size(), 4u);
  EXPECT_EQ(ag[3].out_offset, 30u);
  EXPECT_EQ(ag[3].src_rank, 3);
  k = find_collective("reduce_scatter").counts(4 * 4 * 10, 4, n);
  auto rs = find_collective("reduce_scatter").expected(k, rank, n, root);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].src_rank, kAllRanks);
  EXPECT_EQ(rs[0].src_offset, 20u);
  k = find_collective("reduce").counts(64, 4, n);
  EXPECT_TRUE(find_collective("reduce").expected(k, rank, n, root).empty());
  EXPECT_EQ(find_collective("reduce").expected(k, root, n, root).size(), 1u);
  auto sr = find_collective("sendrecv").expected(k, 0, n, root);
  EXPECT_EQ(sr[0].src_rank, 3);  // rank 0 receives from rank n-1
  k = find_collective("alltoall").counts(4 * 4 * 10, 4, n);
  auto a2a = find_collective("alltoall").expected(k, rank, n, root);
  EXPECT_EQ(a2a[1].src_rank, 1);
  EXPECT_EQ(a2a[1].src_offset, 20u);  // block `rank` of rank 1's send buffer
}

TEST(Registry, ListsAndErrors) {
  EXPECT_EQ(collectives().size(), 7u);
  EXPECT_EQ(parse_collective_list("all").size(), 7u);
  auto two = parse_collective_list("sendrecv,all_reduce,sendrecv");
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0]->name, "sendrecv");
  EXPECT_EQ(find_collective("allreduce").name, "all_reduce");
  try {
    find_collective("allreduse");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "unknown collective 'allreduse' (known: all_reduce, all_gather, reduce_scatter, "
                 "broadcast, reduce, alltoall, sendrecv, or all)");
  }
  EXPECT_THROW(parse_collective_list("all_reduce,,reduce"), Error);
}

}  // namespace
}  // namespace sxb
