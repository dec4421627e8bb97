#include "train/chat_template.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/parse.hpp"
#include "train/tokenizer.hpp"

namespace sxb {

namespace {

// Python's str.strip() / Jinja's trim on ASCII whitespace.
std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

uint32_t special(const Tokenizer& tok, const std::optional<SpecialToken>& t, const char* what,
                 ChatFamily f) {
  if (!t) {
    throw usage_error(fmt::format("{}: the {} chat template needs a {} token and the tokenizer "
                                  "names none",
                                  tok.source, chat_family_name(f), what));
  }
  return t->id;
}

uint32_t named(const Tokenizer& tok, const char* text, ChatFamily f) {
  const auto id = tok.token_id(text);
  if (!id) {
    throw usage_error(fmt::format("{}: the {} chat template needs the token {}, which the "
                                  "tokenizer does not have",
                                  tok.source, chat_family_name(f), text));
  }
  return *id;
}

void check_alternating(const std::vector<ChatMessage>& m, size_t first, ChatFamily f,
                       const std::string& where) {
  for (size_t i = first; i < m.size(); ++i) {
    const char* want = (i - first) % 2 == 0 ? "user" : "assistant";
    if (m[i].role != want) {
      throw usage_error(fmt::format("{}: the {} chat template needs user and assistant messages "
                                    "alternating from user{}; message {} is \"{}\"",
                                    where, chat_family_name(f),
                                    f == ChatFamily::llama2 ? " (after an optional system one)" : "",
                                    i, quoted_excerpt(m[i].role)));
    }
  }
}

}  // namespace

std::string chat_family_name(ChatFamily f) {
  switch (f) {
    case ChatFamily::llama2: return "llama2";
    case ChatFamily::llama3: return "llama3";
    case ChatFamily::mistral: return "mistral";
    case ChatFamily::plain: return "plain";
  }
  return "?";
}

std::vector<std::string> chat_family_names() { return {"llama2", "llama3", "mistral", "plain"}; }

ChatFamily chat_family_from_name(const std::string& name) {
  for (ChatFamily f : {ChatFamily::llama2, ChatFamily::llama3, ChatFamily::mistral,
                       ChatFamily::plain}) {
    if (chat_family_name(f) == name) return f;
  }
  throw usage_error(fmt::format("chat template \"{}\" is not one of llama2, llama3, mistral, plain",
                                name));
}

ChatFamily chat_family_of_template(const std::string& jinja, const std::string& source) {
  const auto has = [&](const char* s) { return jinja.find(s) != std::string::npos; };
  const auto refuse = [&](const std::string& why) {
    return usage_error(fmt::format("{}: chat_template \"{}\" {}; name one with --chat-template "
                                   "llama2|llama3|mistral|plain",
                                   source, quoted_excerpt(jinja), why));
  };
  if (has("<|start_header_id|>") && has("<|end_header_id|>") && has("<|eot_id|>")) {
    // Llama-3.1 and later put a dated system header ("Cutting Knowledge Date") and tool text
    // before the turns, which the llama3 rendering does not write.
    if (has("Cutting Knowledge Date")) {
      throw refuse("is Llama-3.1's or later (a dated system header sxbench does not render; "
                   "--chat-template llama3 renders the turns without it)");
    }
    return ChatFamily::llama3;
  }
  if (has("[INST]") && has("[/INST]") && has("<<SYS>>")) return ChatFamily::llama2;
  // Mistral-7B-Instruct v0.1/v0.2's template; later ones differ in spacing, system and tools.
  if (has("'[INST] ' + message['content'] + ' [/INST]'") && !has("system")) {
    return ChatFamily::mistral;
  }
  if (has("[INST]")) {
    throw refuse("is a Mistral-style template other than Mistral-7B-Instruct v0.1/v0.2's "
                 "(spacing, system or tool handling sxbench does not render)");
  }
  throw refuse("is not one sxbench knows (llama2, llama3, mistral)");
}

std::vector<ChatSegment> render_chat(ChatFamily f, const std::vector<ChatMessage>& m,
                                     const Tokenizer& tok, const std::string& where) {
  bool any_assistant = false;
  for (const auto& msg : m) {
    if (msg.role.empty()) throw usage_error(fmt::format("{}: a message has an empty role", where));
    any_assistant |= msg.role == "assistant";
  }
  if (!any_assistant) {
    throw usage_error(fmt::format("{}: no assistant message (nothing to learn)", where));
  }
  // SentencePiece puts a space before every text it encodes (its dummy prefix); the templates'
  // leading spaces are that space.
  const bool spm = tok.kind() == "sentencepiece";
  std::vector<ChatSegment> s;
  switch (f) {
    case ChatFamily::llama2: {
      const bool sys = m[0].role == "system";
      check_alternating(m, sys ? 1 : 0, f, where);
      const uint32_t bos = special(tok, tok.bos, "bos", f);
      const uint32_t eos = special(tok, tok.eos, "eos", f);
      for (size_t i = sys ? 1 : 0; i < m.size(); ++i) {
        if (m[i].role == "user") {
          std::string content = m[i].content;
          if (sys && i == 1) {
            content = fmt::format("<<SYS>>\n{}\n<</SYS>>\n\n{}", m[0].content, content);
          }
          s.push_back({"", bos, false});
          s.push_back({fmt::format("[INST] {} [/INST]", strip(content)), std::nullopt, false});
        } else {
          s.push_back({fmt::format("{}{} ", spm ? "" : " ", strip(m[i].content)), std::nullopt,
                       true});
          s.push_back({"", eos, true});
        }
      }
      break;
    }
    case ChatFamily::mistral: {
      check_alternating(m, 0, f, where);
      s.push_back({"", special(tok, tok.bos, "bos", f), false});
      const uint32_t eos = special(tok, tok.eos, "eos", f);
      for (const auto& msg : m) {
        if (msg.role == "user") {
          s.push_back({fmt::format("[INST] {} [/INST]", msg.content), std::nullopt, false});
        } else {
          s.push_back({msg.content, std::nullopt, true, true});
          s.push_back({"", eos, true});
        }
      }
      break;
    }
    case ChatFamily::llama3: {
      const uint32_t start = named(tok, "<|start_header_id|>", f);
      const uint32_t end = named(tok, "<|end_header_id|>", f);
      const uint32_t eot = named(tok, "<|eot_id|>", f);
      s.push_back({"", special(tok, tok.bos, "bos", f), false});
      for (const auto& msg : m) {
        const bool a = msg.role == "assistant";
        s.push_back({"", start, false});
        s.push_back({msg.role, std::nullopt, false});
        s.push_back({"", end, false});
        s.push_back({"\n\n", std::nullopt, false});
        s.push_back({strip(msg.content), std::nullopt, a});
        s.push_back({"", eot, a});
      }
      break;
    }
    case ChatFamily::plain: {
      if (tok.add_bos) s.push_back({"", special(tok, tok.bos, "bos", f), false});
      const uint32_t eos = special(tok, tok.eos, "eos", f);
      for (const auto& msg : m) {
        if (msg.role == "assistant") {
          s.push_back({msg.content, std::nullopt, true});
          s.push_back({"", eos, true});
        } else {
          s.push_back({msg.content + "\n", std::nullopt, false});
        }
      }
      break;
    }
  }
  return s;
}

}  // namespace sxb
