#pragma once
// Units. Sizes follow nccl-tests: a plain number of bytes or a number with K, M, G or T (binary
// multiples: 1K = 1024 bytes); parsing them, and every other number, lives in core/parse.hpp.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/parse.hpp"  // parse_size_bytes, parse_int, ...: the strict value helpers

namespace sxb {

inline constexpr uint64_t kKiB = 1024ull;
inline constexpr uint64_t kMiB = 1024ull * kKiB;
inline constexpr uint64_t kGiB = 1024ull * kMiB;

// 1073741824 -> "1 GiB", 1536 -> "1.5 KiB".
std::string format_bytes(uint64_t bytes);

// The items of a comma-separated list ("a, b,c"), each with spaces and tabs trimmed from both
// ends. Empty items are kept ("" is one empty item, "a,,b" three items) so that each caller
// decides whether an empty item is skipped or is an error. The views point into `list`.
std::vector<std::string_view> split_comma_list(std::string_view list);

// The message sizes of a sweep from min to max (inclusive): multiply by `factor` when it is > 1,
// otherwise add `step_bytes`. Same rules as nccl-tests' -b/-e/-f/-i. A sweep of more than
// kMaxSweepSizes sizes (-i 1 -e 1G) or a factor that is not finite is refused before any list
// is built.
inline constexpr uint64_t kMaxSweepSizes = 10000;
std::vector<uint64_t> size_sweep(uint64_t min_bytes, uint64_t max_bytes, double factor,
                                 uint64_t step_bytes);

// Current UTC time as ISO-8601 ("2026-11-25T12:00:00Z") and as a compact stamp for names
// ("20261125T120000Z").
std::string utc_iso8601_now();
std::string utc_compact_now();

}  // namespace sxb
