#pragma once
// UTC wall-clock times as the result files write them: ISO 8601 with a trailing Z, either whole
// seconds ("2026-12-04T21:28:24Z", run and file start/end) or milliseconds
// ("2026-12-04T21:28:24.453Z", metric samples, phase and measurement windows), and the one parser
// every reader uses to put both on a common time line.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sxb {

// "2026-12-04T21:28:24.453Z"
std::string utc_iso8601_ms(std::chrono::system_clock::time_point t);
std::string utc_iso8601_ms_now();

struct UtcTime {
  double epoch_s = 0;          // seconds since 1970-01-01T00:00:00Z, fraction included
  bool whole_seconds = false;  // the text had no fraction: the true instant lies in [t, t + 1)
};
// Parses "YYYY-MM-DDTHH:MM:SS[.fraction]Z"; nullopt for anything else (no time zone other than
// Z, no missing fields, no trailing text).
std::optional<UtcTime> parse_utc_iso8601(std::string_view text);

}  // namespace sxb
