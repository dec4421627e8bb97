#include "report/doc/lang.hpp"

#include "core/error.hpp"

namespace sxb::report {

ReportLang parse_report_lang(std::string_view text, std::string_view what) {
  if (text == "en") return ReportLang::en;
  if (text == "ja") return ReportLang::ja;
  throw usage_error(fmt::format("{}: unknown report language '{}' (known: en, ja)", what, text));
}

std::string_view report_lang_name(ReportLang lang) {
  return lang == ReportLang::ja ? "ja" : "en";
}

ReportLang resolve_report_lang(const EnvConfig& env, std::string_view flag_value) {
  if (!flag_value.empty()) return parse_report_lang(flag_value, "--lang");
  const auto value = env.lookup("REPORT_LANG");
  return value ? parse_report_lang(*value, "REPORT_LANG (" + env.source("REPORT_LANG") + ")")
               : ReportLang::en;
}

}  // namespace sxb::report
