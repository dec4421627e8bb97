#pragma once
// The one home of number formatting in report/ documents: thousands separators, significant
// figures, percentages, durations and sizes in the report language. The plan and the sales summary
// print counts with grouped()/count_text()/sig3(); the comprehensive report prints measured
// figures with format_figure() (no grouping, so a figure can be copied into a calculation).
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
// A fraction as a percentage with one decimal: 0.8123 -> "81.2%".
std::string percent(double fraction);
// 4 significant digits for small values, none after the point from 1000 up: 27994.3 -> "27994",
// 437.33 -> "437.3", 5.4321 -> "5.43", 0.0022889 -> "0.00229"; not finite -> "-".
std::string format_figure(double v);
// Bytes in GiB with one decimal.
std::string gib(double bytes);

}  // namespace sxb::report
