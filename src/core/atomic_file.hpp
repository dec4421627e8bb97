#pragma once
// Every output file is written under a temporary name in the same directory and renamed into
// place, so a reader never sees a half-written file, whatever happens to the writer.
#include <filesystem>
#include <vector>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace sxb {

void write_file_atomic(const std::filesystem::path& path, std::string_view content);
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& value);

// Reads a whole file; throws sxb::Error naming the path when it cannot.
std::string read_file(const std::filesystem::path& path);
// Reads and parses JSON; a syntax error becomes a one-line sxb::Error with path and position.
nlohmann::json read_json_file(const std::filesystem::path& path);
// The *.json files directly in `dir`, in name order; a directory that cannot be listed is a
// one-line usage error.
std::vector<std::filesystem::path> json_files_in(const std::filesystem::path& dir);
// Parses JSON text read from `source` (named in the error) the way read_json_file does.
nlohmann::json parse_json_text(std::string_view text, const std::string& source);

// Creates a fresh directory named base, or base-2, base-3, ... when that exists, so concurrent
// runs never share a directory. Returns the directory created.
std::filesystem::path create_unique_directory(const std::filesystem::path& base);

}  // namespace sxb
