#pragma once
// What every reader of a result file shares: the file's format version ("schema":
// "sxbench.<name>/<version>") checked against the one this build reads, JSON pointers for naming
// a field, and the library's type errors turned into one line naming the file.
#include <fmt/format.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/parse.hpp"

namespace sxb {

// A JSON pointer (RFC 6901) one level below `parent`: "/a" + "b" -> "/a/b", with '~' and '/' in
// the key escaped.
std::string pointer_child(const std::string& parent, std::string_view key);

// The "schema" field of a result file against the version this build reads: `name` is the
// file's schema name ("run" for "sxbench.run/1"). A file from an older version is named as such
// with "re-run with this version"; a newer one asks for a newer sxbench; anything else is a
// field error. `absent_is` is the version a file without the field is (0: the field is
// required). Throws a one-line usage error.
void check_schema_version(const nlohmann::json& j, const std::string& file,
                          const std::string& name, int current, int absent_is = 0);

// The library's message without its "[json.exception.parse_error.101] " tag.
std::string_view json_error_text(const nlohmann::json::exception& e);

// "nccl.json: type must be number, but is string" from the library's
// "[json.exception.type_error.302] type must be ..."; with the library's diagnostics enabled its
// message starts with the JSON pointer, which is kept ("nccl.json: /rows/3/size_bytes: ...").
std::string json_error_line(const std::string& file, const nlohmann::json::exception& e);

// `out = j.at(key)` for a result file's field, treating the number as untrusted: an integer must
// be whole and fit `T` (a negative size is refused, never wrapped to 16 EiB), a floating-point
// number finite; other types convert as the library does. A missing key throws the library's
// out_of_range; a bad number a one-line usage error naming `file` and the key.
// An error met inside a field, located: `step` ("rows/3") is prepended to the location the
// message already carries, so nested fields read as one pointer: "nccl.json: key
// \"busbw_gb_per_s\": expected a number, found string \"x\" (at /rows/3/out_of_place)". A
// library error (missing key, wrong type) becomes the same one line, naming `file`.
[[noreturn]] void rethrow_located(std::string_view file, std::string_view step);

template <typename T>
struct is_std_vector : std::false_type {};
template <typename U, typename A>
struct is_std_vector<std::vector<U, A>> : std::true_type {};

namespace detail {
template <typename T>
constexpr bool is_object_vector() {
  if constexpr (is_std_vector<T>::value) {
    using U = typename T::value_type;
    return !std::is_arithmetic_v<U> && !std::is_same_v<U, std::string>;
  } else {
    return false;
  }
}

// A field holding an object or an array of objects: each element read in turn, so an error
// names its index.
template <typename T>
void get_nested(const nlohmann::json& v, const char* key, T& out, std::string_view file) {
  if constexpr (is_object_vector<T>()) {
    if (!v.is_array()) {
      throw usage_error(fmt::format("{}: key \"{}\": expected an array, found {}", file, key,
                                    v.type_name()));
    }
    T values;
    values.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      try {
        values.push_back(v[i].template get<typename T::value_type>());
      } catch (...) {
        rethrow_located(file, fmt::format("{}/{}", key, i));
      }
    }
    out = std::move(values);
  } else if constexpr (std::is_class_v<T> && !std::is_same_v<T, std::string> &&
                       !is_std_vector<T>::value &&
                       !std::is_same_v<T, nlohmann::json>) {
    try {
      v.get_to(out);
    } catch (...) {
      rethrow_located(file, key);
    }
  } else {
    v.get_to(out);
  }
}
}  // namespace detail

template <typename T>
void get_field(const nlohmann::json& j, const char* key, T& out, std::string_view file) {
  const nlohmann::json& v = j.at(key);
  if constexpr (std::is_same_v<T, bool>) {
    out = json_bool(v, json_key_name(file, key));
  } else if constexpr (std::is_integral_v<T>) {
    using L = std::numeric_limits<T>;
    const int64_t max =
        static_cast<uint64_t>(L::max()) > static_cast<uint64_t>(kInt64Max) ? kInt64Max
                                                                          : static_cast<int64_t>(L::max());
    out = static_cast<T>(json_int(v, json_key_name(file, key), static_cast<int64_t>(L::min()), max));
  } else if constexpr (std::is_floating_point_v<T>) {
    out = static_cast<T>(json_number(v, json_key_name(file, key),
                                     std::numeric_limits<double>::lowest(),
                                     std::numeric_limits<double>::max()));
  } else {
    detail::get_nested(v, key, out, file);
  }
}

}  // namespace sxb
