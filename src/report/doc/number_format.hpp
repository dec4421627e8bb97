#pragma once
// Number formatting shared by the plan and the sales summary: thousands separators, durations
// and sizes in the report language.
#include <string>

namespace sxb::report {

// 1234567.8 -> "1,234,568" (rounded to `decimals` places, grouped by thousands).
std::string grouped(double value, int decimals = 0);
// A rate or count: grouped whole numbers from 100 up, three significant figures below (so a
// small rate never prints as 0).
std::string count_text(double value);
// Three significant figures without exponent for ordinary magnitudes: 0.0123 -> "0.0123",
// 12.3456 -> "12.3", 123456 -> "123,456".
std::string sig3(double value);
// 45 -> "45 s", 200 -> "3 min 20 s", 3720 -> "1 h 02 min" (ja: "45 秒", "3 分 20 秒", "1 時間 02
// 分").
std::string duration_text(double seconds, bool japanese);
// Bytes in GiB with one decimal.
std::string gib(double bytes);

}  // namespace sxb::report
