#pragma once
// Numeric flags: each one is checked by a CLI11 validator that parses the text with the strict
// helpers of core/parse.hpp (the same ones that read settings and JSON), so a flag is an integer
// or a finite number inside its stated range, or the command line is refused before anything
// runs: "sxbench: error: --micro-batch: invalid value '0': expected an integer from 1 to 1000000".
// A flag whose absence means "use the setting or the built-in default" binds to std::optional;
// no value given on the command line is ever replaced by a default.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "core/parse.hpp"
#include "core/units.hpp"

namespace sxb {

namespace cli_detail {
template <typename F>
CLI::Validator strict_validator(F parse, std::string description) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        try {
          parse(text);
          return {};
        } catch (const Error& e) {
          return e.what();
        }
      },
      std::move(description));
}
}  // namespace cli_detail

// An integer in [min, max].
inline CLI::Validator int_in(int64_t min, int64_t max) {
  return cli_detail::strict_validator(
      [=](const std::string& t) { parse_int_in(t, "value", min, max); },
      "INT in [" + std::to_string(min) + " - " + std::to_string(max) + "]");
}

// A finite number in [min, max].
inline CLI::Validator number_in(double min, double max) {
  return cli_detail::strict_validator(
      [=](const std::string& t) { parse_number_in(t, "value", min, max); },
      fmt::format("NUMBER in [{:g} - {:g}]", min, max));
}

// A size in bytes (K, M, G, T suffixes) in [min, max].
inline CLI::Validator size_in(uint64_t min, uint64_t max) {
  return cli_detail::strict_validator(
      [=](const std::string& t) { parse_size_in(t, "value", min, max); },
      "SIZE in [" + std::to_string(min) + " - " + format_bytes(max) + "]");
}

// 0 or 1, for the nccl-tests style switches (-c, --check, --fp8-fast-accum).
inline CLI::Validator zero_or_one() {
  return int_in(0, 1);
}

}  // namespace sxb
