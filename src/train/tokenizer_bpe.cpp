// Byte-level BPE from a Hugging Face tokenizer.json (Llama-3, GPT-2), as the `tokenizers`
// library runs it:
//   1. added tokens written in the text are cut out first (longest match at each position) and
//      become their ids;
//   2. the rest is pre-tokenized: Split (a regex, behaviour Isolated: matches and the text
//      between them are pieces) and ByteLevel (GPT-2's regex when use_regex; a space before
//      each piece when add_prefix_space), each piece's bytes mapped to GPT-2's printable
//      byte-to-unicode symbols;
//   3. each piece is merged by BPE: the adjacent pair with the lowest merge rank first; with
//      ignore_merges a piece that is itself in the vocabulary is that token.
// Anything else the file asks for is refused in one line naming the file and the component.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <climits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parse.hpp"
#include "train/tokenizer.hpp"

namespace sxb {

namespace {

// The largest token id accepted (the model registry's largest vocabulary, less one).
constexpr int64_t kMaxId = (int64_t(1) << 24) - 1;

// GPT-2's pre-tokenizer regex (ByteLevel with use_regex).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for 256 + n.
struct ByteMap {
  std::array<std::string, 256> symbol;       // byte -> UTF-8 of its symbol
  std::unordered_map<uint32_t, uint8_t> back;  // symbol code point -> byte
  ByteMap() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? uint32_t(b) : uint32_t(256 + n++);
      append_utf8(symbol[b], cp);
      back[cp] = uint8_t(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

size_t utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  return 4;
}

class Regex {
 public:
  Regex(const std::string& pattern, bool literal, const std::string& where) {
    int err = 0;
    PCRE2_SIZE off = 0;
    uint32_t flags = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), flags,
                          &err, &off, nullptr);
    if (!code_) {
      std::array<PCRE2_UCHAR, 256> msg{};
      pcre2_get_error_message(err, msg.data(), msg.size());
      throw usage_error(fmt::format("{}: pre-tokenizer regex does not compile at offset {}: {}",
                                    where, size_t(off), reinterpret_cast<const char*>(msg.data())));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // an interpreter run when JIT is unavailable
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Isolated split: every match and every stretch between matches is a piece, in order.
  void split(std::string_view s, std::vector<std::string>& out) const {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    size_t pos = 0, last = 0;
    while (pos <= s.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos,
                                 PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        pcre2_match_data_free(md);
        throw runtime_error(fmt::format("pre-tokenizer regex failed with PCRE2 error {}", rc));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      const size_t b = ov[0], e = ov[1];
      if (e == b) {  // an empty match is no piece; step over one character
        if (b >= s.size()) break;
        pos = b + utf8_len(uint8_t(s[b]));
        continue;
      }
      if (b > last) out.emplace_back(s.substr(last, b - last));
      out.emplace_back(s.substr(b, e - b));
      last = pos = e;
    }
    if (last < s.size()) out.emplace_back(s.substr(last));
    pcre2_match_data_free(md);
  }

 private:
  pcre2_code* code_ = nullptr;
};

struct PreStep {
  std::unique_ptr<Regex> regex;  // Split, or ByteLevel's GPT-2 regex when use_regex
  bool add_prefix_space = false;
};

std::string type_of(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return "(no type)";
  return j["type"].get<std::string>();
}

bool flag(const nlohmann::json& j, const char* key, bool dflt, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  return json_bool(j[key], fmt::format("{}: \"{}\"", where, key));
}

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(const nlohmann::json& j, const std::string& src) {
    source = src;
    if (!j.is_object()) throw usage_error(fmt::format("{}: not a JSON object", src));
    read_model(j.value("model", nlohmann::json()));
    if (j.contains("normalizer") && !j["normalizer"].is_null()) {
      throw unsupported("normalizer", type_of(j["normalizer"]), "none");
    }
    read_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()));
    const auto& dec = j.value("decoder", nlohmann::json());
    if (type_of(dec) != "ByteLevel") throw unsupported("decoder", type_of(dec), "ByteLevel");
    read_added_tokens(j.value("added_tokens", nlohmann::json::array()));
    read_post_processor(j.value("post_processor", nlohmann::json()));
  }

  std::vector<uint32_t> encode(std::string_view text) const override {
    if (!valid_utf8(text)) throw usage_error(fmt::format("{}: text is not valid UTF-8", source));
    std::vector<uint32_t> ids;
    size_t start = 0, i = 0;
    while (i < text.size()) {
      const AddedMatch m = added_at(text, i);
      if (m.len == 0) {
        ++i;
        continue;
      }
      encode_plain(text.substr(start, i - start), ids);
      ids.push_back(m.id);
      i += m.len;
      start = i;
    }
    encode_plain(text.substr(start), ids);
    return ids;
  }

  std::string decode(const std::vector<uint32_t>& ids) const override {
    const ByteMap& bm = byte_map();
    std::string out;
    for (uint32_t id : ids) {
      if (auto a = added_by_id_.find(id); a != added_by_id_.end()) {
        out += a->second;
        continue;
      }
      const auto tok = id_to_token_.find(id);
      if (tok == id_to_token_.end()) {
        throw usage_error(fmt::format("{}: token id {} is not in the vocabulary", source, id));
      }
      const std::string& t = *tok->second;
      for (size_t k = 0; k < t.size();) {
        const size_t n = utf8_len(uint8_t(t[k]));
        uint32_t cp = n == 1 ? uint8_t(t[k]) : uint8_t(t[k]) & (0xFF >> (n + 1));
        for (size_t q = 1; q < n && k + q < t.size(); ++q) cp = (cp << 6) | (uint8_t(t[k + q]) & 0x3F);
        const auto b = bm.back.find(cp);
        if (b == bm.back.end()) {
          throw usage_error(fmt::format("{}: token {} holds a character outside the byte-level "
                                        "alphabet",
                                        source, id));
        }
        out.push_back(char(b->second));
        k += n;
      }
    }
    return out;
  }

  std::optional<uint32_t> token_id(std::string_view token) const override {
    for (const auto& a : added_) {
      if (a.content == token) return a.id;
    }
    if (auto it = vocab_.find(std::string(token)); it != vocab_.end()) return it->second;
    return std::nullopt;
  }

  int64_t vocab_size() const override { return vocab_size_; }
  std::string kind() const override { return "byte-level BPE"; }

  std::optional<std::string> template_bos;  // the post-processor's leading special token

 private:
  struct Added {
    std::string content;
    uint32_t id;
  };
  struct AddedMatch {
    size_t len = 0;
    uint32_t id = 0;
  };

  Error unsupported(const std::string& component, const std::string& what,
                    const std::string& supported) const {
    return usage_error(fmt::format("{}: {} \"{}\" is not supported (supported: {})", source,
                                   component, quoted_excerpt(what), supported));
  }

  void read_model(const nlohmann::json& m) {
    if (type_of(m) != "BPE") throw unsupported("model", type_of(m), "BPE");
    const std::string where = source + ": model";
    if (m.contains("dropout") && !m["dropout"].is_null() &&
        json_number(m["dropout"], where + " dropout", 0, 1) != 0) {
      throw unsupported("model option", "dropout", "dropout null or 0");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (m.contains(key) && !m[key].is_null() && !json_string(m[key], where).empty()) {
        throw unsupported("model option", key, "null or empty");
      }
    }
    if (flag(m, "byte_fallback", false, where)) {
      throw unsupported("model option", "byte_fallback", "byte_fallback false");
    }
    ignore_merges_ = flag(m, "ignore_merges", false, where);
    if (!m.contains("vocab") || !m["vocab"].is_object()) {
      throw usage_error(fmt::format("{}: model has no \"vocab\" object", source));
    }
    for (const auto& [tok, idj] : m["vocab"].items()) {
      const auto id = uint32_t(json_int(
          idj, fmt::format("{}: vocab[\"{}\"]", source, quoted_excerpt(tok)), 0, kMaxId));
      vocab_[tok] = id;
      vocab_size_ = std::max<int64_t>(vocab_size_, int64_t(id) + 1);
    }
    for (const auto& [tok, id] : vocab_) id_to_token_.emplace(id, &tok);
    if (m.contains("unk_token") && !m["unk_token"].is_null()) {
      const std::string unk = json_string(m["unk_token"], where + " unk_token");
      const auto it = vocab_.find(unk);
      if (it == vocab_.end()) {
        throw usage_error(fmt::format("{}: unk_token \"{}\" is not in the vocabulary", source,
                                      quoted_excerpt(unk)));
      }
      unk_ = it->second;
    }
    if (!m.contains("merges") || !m["merges"].is_array()) {
      throw usage_error(fmt::format("{}: model has no \"merges\" array", source));
    }
    int rank = 0;
    for (const auto& mj : m["merges"]) {
      std::string a, b;
      if (mj.is_string()) {
        const std::string s = mj.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 >= s.size() ||
            s.find(' ', sp + 1) != std::string::npos) {
          throw usage_error(
              fmt::format("{}: merge {} \"{}\" is not two tokens \"A B\"", source, rank,
                          quoted_excerpt(s)));
        }
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (mj.is_array() && mj.size() == 2 && mj[0].is_string() && mj[1].is_string()) {
        a = mj[0].get<std::string>();
        b = mj[1].get<std::string>();
      } else {
        throw usage_error(fmt::format("{}: merge {} is not \"A B\" or [\"A\", \"B\"]", source, rank));
      }
      if (!vocab_.count(a + b)) {
        throw usage_error(fmt::format("{}: merge {} gives \"{}\", which is not in the vocabulary",
                                      source, rank, quoted_excerpt(a + b)));
      }
      ranks_.emplace(pair_key(a, b), rank++);
    }
  }

  void read_pre_tokenizer(const nlohmann::json& p) {
    std::vector<nlohmann::json> steps;
    if (type_of(p) == "Sequence") {
      if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) {
        throw usage_error(fmt::format("{}: pre_tokenizer Sequence has no \"pretokenizers\"", source));
      }
      for (const auto& s : p["pretokenizers"]) steps.push_back(s);
    } else {
      steps.push_back(p);
    }
    const std::string supported = "Split (Isolated) followed by ByteLevel, or ByteLevel";
    for (size_t k = 0; k < steps.size(); ++k) {
      const auto& s = steps[k];
      const std::string t = type_of(s);
      const std::string where = fmt::format("{}: pre_tokenizer {}", source, t);
      const bool last = k + 1 == steps.size();
      if (t == "ByteLevel" && last) {
        PreStep step;
        step.add_prefix_space = flag(s, "add_prefix_space", true, where);
        if (flag(s, "use_regex", true, where)) {
          step.regex = std::make_unique<Regex>(kGpt2Pattern, false, where);
        }
        steps_.push_back(std::move(step));
      } else if (t == "Split" && !last) {
        const std::string behavior =
            json_string_member(s, "behavior", where).value_or("(none)");
        if (behavior != "Isolated") {
          throw unsupported("pre_tokenizer Split behavior", behavior, "Isolated");
        }
        if (flag(s, "invert", false, where)) {
          throw unsupported("pre_tokenizer Split option", "invert", "invert false");
        }
        const auto& pat = s.value("pattern", nlohmann::json());
        PreStep step;
        if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
          step.regex = std::make_unique<Regex>(pat["Regex"].get<std::string>(), false, where);
        } else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
          step.regex = std::make_unique<Regex>(pat["String"].get<std::string>(), true, where);
        } else {
          throw usage_error(fmt::format("{}: pattern must be {{\"Regex\": ...}} or {{\"String\": "
                                        "...}}",
                                        where));
        }
        steps_.push_back(std::move(step));
      } else {
        throw unsupported(last ? "pre_tokenizer" : "pre_tokenizer step", t, supported);
      }
    }
  }

  void read_added_tokens(const nlohmann::json& a) {
    if (!a.is_array()) throw usage_error(fmt::format("{}: \"added_tokens\" is not an array", source));
    for (const auto& t : a) {
      const std::string where = fmt::format("{}: added_tokens", source);
      if (!t.is_object() || !t.contains("content") || !t["content"].is_string() ||
          !t.contains("id")) {
        throw usage_error(fmt::format("{}: an entry lacks \"id\" or \"content\"", where));
      }
      const std::string content = t["content"].get<std::string>();
      for (const char* opt : {"single_word", "lstrip", "rstrip"}) {
        if (flag(t, opt, false, where)) {
          throw unsupported("added token option", fmt::format("{} of {}", opt, quoted_excerpt(content)),
                            "single_word, lstrip and rstrip false");
        }
      }
      if (content.empty()) throw usage_error(fmt::format("{}: an added token is empty", where));
      const auto id =
          uint32_t(json_int(t["id"], where + " id", 0, kMaxId));
      added_.push_back({content, id});
      added_by_id_[id] = content;
      first_bytes_[uint8_t(content[0])] = true;
      vocab_size_ = std::max<int64_t>(vocab_size_, int64_t(id) + 1);
    }
    // Longest first, so that of two added tokens starting at one place the longer wins.
    std::stable_sort(added_.begin(), added_.end(),
                     [](const Added& x, const Added& y) { return x.content.size() > y.content.size(); });
  }

  void read_post_processor(const nlohmann::json& p) {
    if (p.is_null()) return;
    std::vector<nlohmann::json> parts;
    if (type_of(p) == "Sequence" && p.contains("processors") && p["processors"].is_array()) {
      for (const auto& q : p["processors"]) parts.push_back(q);
    } else {
      parts.push_back(p);
    }
    for (const auto& q : parts) {
      const std::string t = type_of(q);
      if (t == "ByteLevel") continue;
      if (t != "TemplateProcessing") {
        throw unsupported("post_processor", t, "ByteLevel, TemplateProcessing");
      }
      const auto& single = q.value("single", nlohmann::json::array());
      if (single.is_array() && !single.empty() && single[0].is_object() &&
          single[0].contains("SpecialToken")) {
        const auto& st = single[0]["SpecialToken"];
        if (!st.is_object() || !st.contains("id") || !st["id"].is_string()) {
          throw usage_error(fmt::format("{}: post_processor's SpecialToken has no string \"id\"",
                                        source));
        }
        template_bos = st["id"].get<std::string>();
      }
    }
  }

  static std::string pair_key(const std::string& a, const std::string& b) {
    std::string k;
    k.reserve(a.size() + b.size() + 1);
    k += a;
    k += ' ';
    k += b;
    return k;
  }

  AddedMatch added_at(std::string_view text, size_t i) const {
    if (!first_bytes_[uint8_t(text[i])]) return {};
    for (const auto& a : added_) {
      if (text.compare(i, a.content.size(), a.content) == 0) return {a.content.size(), a.id};
    }
    return {};
  }

  void encode_plain(std::string_view text, std::vector<uint32_t>& ids) const {
    if (text.empty()) return;
    std::vector<std::string> pieces{std::string(text)};
    for (const auto& step : steps_) {
      std::vector<std::string> next;
      for (auto& piece : pieces) {
        if (step.add_prefix_space && !piece.empty() && piece[0] != ' ') piece.insert(0, 1, ' ');
        if (step.regex) {
          step.regex->split(piece, next);
        } else {
          next.push_back(std::move(piece));
        }
      }
      pieces = std::move(next);
    }
    const ByteMap& bm = byte_map();
    for (const auto& piece : pieces) {
      std::string mapped;
      for (unsigned char c : piece) mapped += bm.symbol[c];
      encode_word(mapped, ids);
    }
  }

  void encode_word(const std::string& word, std::vector<uint32_t>& ids) const {
    {
      std::lock_guard<std::mutex> lock(cache_mutex_);
      if (auto it = cache_.find(word); it != cache_.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<uint32_t> out;
    const auto whole = vocab_.find(word);
    if (ignore_merges_ && whole != vocab_.end()) {
      out.push_back(whole->second);
    } else {
      std::vector<std::string> sym;
      for (size_t k = 0; k < word.size();) {
        const size_t n = utf8_len(uint8_t(word[k]));
        sym.push_back(word.substr(k, n));
        k += n;
      }
      while (sym.size() > 1) {
        int best = INT_MAX;
        size_t at = 0;
        for (size_t k = 0; k + 1 < sym.size(); ++k) {
          const auto r = ranks_.find(pair_key(sym[k], sym[k + 1]));
          if (r != ranks_.end() && r->second < best) {
            best = r->second;
            at = k;
          }
        }
        if (best == INT_MAX) break;
        const std::string a = sym[at], b = sym[at + 1];
        std::vector<std::string> merged;
        merged.reserve(sym.size());
        for (size_t k = 0; k < sym.size();) {
          if (k + 1 < sym.size() && sym[k] == a && sym[k + 1] == b) {
            merged.push_back(a + b);
            k += 2;
          } else {
            merged.push_back(sym[k]);
            ++k;
          }
        }
        sym = std::move(merged);
      }
      for (const auto& s : sym) {
        const auto it = vocab_.find(s);
        if (it != vocab_.end()) {
          out.push_back(it->second);
        } else if (unk_) {
          out.push_back(*unk_);
        } else {
          throw usage_error(fmt::format("{}: symbol \"{}\" is not in the vocabulary and the model "
                                        "has no unk_token",
                                        source, quoted_excerpt(s)));
        }
      }
    }
    ids.insert(ids.end(), out.begin(), out.end());
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() < 200000) cache_.emplace(word, std::move(out));
  }

  std::map<std::string, uint32_t> vocab_;  // std::map: id_to_token_ points into it
  std::unordered_map<uint32_t, const std::string*> id_to_token_;
  std::unordered_map<std::string, int> ranks_;
  std::optional<uint32_t> unk_;
  bool ignore_merges_ = false;
  std::vector<PreStep> steps_;
  std::vector<Added> added_;
  std::unordered_map<uint32_t, std::string> added_by_id_;
  std::array<bool, 256> first_bytes_{};
  int64_t vocab_size_ = 0;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<uint32_t>> cache_;
};

}  // namespace

std::unique_ptr<Tokenizer> bpe_tokenizer_from_json(const nlohmann::json& j,
                                                   const std::string& source) {
  auto t = std::make_unique<BpeTokenizer>(j, source);
  if (t->template_bos) {
    const auto id = t->token_id(*t->template_bos);
    if (!id) {
      throw usage_error(fmt::format("{}: post_processor's special token \"{}\" is not a token",
                                    source, quoted_excerpt(*t->template_bos)));
    }
    t->bos = SpecialToken{*t->template_bos, *id};
    t->add_bos = true;
  }
  return t;
}

std::unique_ptr<Tokenizer> load_bpe_tokenizer_json(const std::filesystem::path& json_file) {
  return bpe_tokenizer_from_json(parse_json_text(read_file(json_file), json_file.string()),
                                 json_file.string());
}

}  // namespace sxb
