#pragma once
// What every reader of a result file shares: the file's format version ("schema":
// "sxbench.<name>/<version>") checked against the one this build reads, JSON pointers for naming
// a field, and the library's type errors turned into one line naming the file.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

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

}  // namespace sxb
