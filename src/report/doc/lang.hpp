#pragma once
// Report language (REPORT_LANG=en|ja, or a command's --lang) and the one way report text is
// kept: every user-visible string is a Text holding its English and Japanese forms side by side
// at the place it is used, so a heading can never exist in one language only (both are required
// by the constructor) and a reader of the code sees both at once. Every document of report/ (the
// comprehensive report, the plan, the sales summary) and every chart label is written this way.
//
//   const Text kTitle{"Throughput", "スループット"};
//   out += kTitle(lang);                                   // plain text
//   out += tr(lang, {"{} runs", "{} 件の実行"}, runs.size());  // with fmt arguments
//   d.heading(2, tr(lang, {"Inputs", "入力"}));           // into a Document (doc/document.hpp)
//
// A helper that renders text takes the ReportLang, not a pre-chosen string, so that its own
// pairs stay next to their use. Pairs that vary with data (a table of names) hold Text members.
#include <fmt/format.h>

#include <string>
#include <string_view>

#include "core/env_config.hpp"

namespace sxb::report {

enum class ReportLang { en, ja };

// "en" or "ja" (as REPORT_LANG spells them). Throws a one-line sxb::Error naming `what` and the
// accepted values for anything else.
ReportLang parse_report_lang(std::string_view text, std::string_view what = "REPORT_LANG");
std::string_view report_lang_name(ReportLang lang);
// The language a command uses: its flag when given (non-empty), else REPORT_LANG from the
// settings (process environment > .env > default "en").
ReportLang resolve_report_lang(const EnvConfig& env, std::string_view flag_value = {});

struct Text {
  std::string_view en;
  std::string_view ja;
  constexpr Text(std::string_view english, std::string_view japanese) : en(english), ja(japanese) {}
  constexpr std::string_view operator()(ReportLang lang) const {
    return lang == ReportLang::ja ? ja : en;
  }
};

// Text in `lang` formatted with fmt arguments; both forms must take the same arguments (the
// tests render every document in both languages, which exercises each pair).
template <typename... Args>
std::string tr(ReportLang lang, const Text& text, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return std::string(text(lang));
  } else {
    return fmt::format(fmt::runtime(text(lang)), std::forward<Args>(args)...);
  }
}

}  // namespace sxb::report
