#pragma once
// Strict values: every number sxbench reads from a flag, a setting or a JSON file goes through
// these helpers once. A value is accepted only when it is finite, of the right kind (an integer
// where a count is meant), inside the stated range and representable without overflow; anything
// else throws a one-line sxb::Error (usage) that names the flag, key or file. Nothing falls back
// to a default: a caller that has a default applies it only when the value is absent.
//
// Text (flags, settings): "invalid <what> '<text>': expected <kind> from <min> to <max>", where
// <what> names the flag ("--micro-batch") or the setting ("SEQ_LEN"). JSON: "<file>: key
// \"<key>\": expected <kind> from <min> to <max>, got <value>". Quoted text and values longer
// than 40 characters are cut.
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace sxb {

inline constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
inline constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
inline constexpr uint64_t kUint64Max = std::numeric_limits<uint64_t>::max();

// The largest single benchmark buffer or collective message (-b, -e, -i, --nccl-max-bytes,
// --hbm-bytes, ...) sxbench accepts: 64 GiB, under half of one H200's 141 GB, so that the send
// and receive buffers of the largest size still fit one GPU.
inline constexpr uint64_t kMaxBufferBytes = 64ull << 30;
// Repetition counts (iterations, steps): enough for any measurement, small enough that a typo
// such as an extra digit is refused instead of running for days.
inline constexpr int64_t kMaxRepetitions = 1000000;

// `s` without the spaces and tabs at either end.
std::string_view trim_blanks(std::string_view s);

// The text as it may appear in a message: at most 40 characters, without line breaks.
std::string quoted_excerpt(std::string_view text);
// True when text is well-formed UTF-8 (what JSON output requires of every string it records).
bool valid_utf8(std::string_view text);

// Whole (trimmed) string must be a base-10 integer / a finite decimal number / a boolean word.
int64_t parse_int(std::string_view text, std::string_view what);
double parse_double(std::string_view text, std::string_view what);
bool parse_bool(std::string_view text, std::string_view what);

// The same, and inside [min, max] (inclusive).
int64_t parse_int_in(std::string_view text, std::string_view what, int64_t min, int64_t max);
double parse_number_in(std::string_view text, std::string_view what, double min, double max);

// "8", "64K", "1M", "8G", "1T" (also "8GB", "8GiB") -> bytes (binary multiples, as nccl-tests).
uint64_t parse_size_bytes(std::string_view text, std::string_view what = "size");
// The same, inside [min, max] bytes; the message states the bounds as sizes ("64 GiB").
uint64_t parse_size_in(std::string_view text, std::string_view what, uint64_t min, uint64_t max);

// The product of non-negative factors, or an Error naming `what` when it overflows 64 bits or
// exceeds `ceiling` (then the message states both). Used before every size-derived allocation.
uint64_t checked_product(std::initializer_list<uint64_t> factors, std::string_view what,
                         uint64_t ceiling = kUint64Max);
// a + b, or an Error naming `what` when the sum overflows or exceeds `ceiling`.
uint64_t checked_sum(uint64_t a, uint64_t b, std::string_view what, uint64_t ceiling = kUint64Max);

// JSON values. `what` names file and key. An integer must be a JSON number with an integral
// value (4096 and 4096.0 are the same number in JSON; 64.5 is refused) inside [min, max]; a
// number must be finite and inside [min, max]; a string must be a string; a boolean a boolean.
int64_t json_int(const nlohmann::json& value, std::string_view what, int64_t min, int64_t max);
double json_number(const nlohmann::json& value, std::string_view what, double min, double max);
std::string json_string(const nlohmann::json& value, std::string_view what);
bool json_bool(const nlohmann::json& value, std::string_view what);

// Members of an object: absent (or null) gives nullopt, anything else goes through the above.
std::optional<int64_t> json_int_member(const nlohmann::json& object, std::string_view key,
                                       std::string_view where, int64_t min, int64_t max);
std::optional<double> json_number_member(const nlohmann::json& object, std::string_view key,
                                         std::string_view where, double min, double max);
std::optional<std::string> json_string_member(const nlohmann::json& object, std::string_view key,
                                              std::string_view where);
std::optional<bool> json_bool_member(const nlohmann::json& object, std::string_view key,
                                     std::string_view where);

// "<where>: key \"<key>\"": how a message names a key of a file.
std::string json_key_name(std::string_view where, std::string_view key);

}  // namespace sxb
