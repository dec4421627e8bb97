// `sxbench data pack`: SFT records -> packed token file (train --data): pre-tokenised JSONL, or
// raw text (prompt/response, messages, Alpaca) through a model's tokenizer (--tokenizer);
// `sxbench data info`: a token file's header.
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "commands/cli_values.hpp"
#include "commands/command.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "hub/hub_cache.hpp"
#include "train/chat_template.hpp"
#include "train/sft_text.hpp"
#include "train/token_data.hpp"
#include "train/tokenizer.hpp"

namespace sxb {

namespace {
struct DataOptions {
  std::string in, out, dtype = "auto", info_file, tokenizer, model, chat_template;
  std::optional<int64_t> seq_len;  // absent: SEQ_LEN
  int64_t pad_id = 0;
};

// The packed file replaces --out atomically; when --out names the input (the same path, or a
// link to the same file) that would destroy the records, so it is refused before reading.
void check_output_is_not_input(const std::filesystem::path& in, const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool same_file = fs::exists(out, ec) && fs::equivalent(in, out, ec);
  if (same_file || fs::weakly_canonical(in, ec) == fs::weakly_canonical(out, ec)) {
    throw usage_error(fmt::format("--out {} is the input file --in {}; write the token file "
                                  "elsewhere",
                                  out.string(), in.string()));
  }
}
}  // namespace

Command add_data_command(CLI::App& root) {
  auto o = std::make_shared<DataOptions>();
  CLI::App* app = root.add_subcommand("data",
                                      "Training data files: pack JSONL into a token file, "
                                      "show a token file's header");
  app->require_subcommand(1);
  CLI::App* pack = app->add_subcommand(
      "pack",
      "Pack SFT records into seq_len sequences with a loss mask (response tokens only): "
      "pre-tokenised JSONL {\"prompt\": [ids], \"response\": [ids]}, or with --tokenizer raw "
      "text: prompt/response, messages or Alpaca records (JSONL or a JSON array)");
  pack->add_option("--in", o->in, "JSONL file (one record per line) or JSON array of records")
      ->required();
  pack->add_option("--out", o->out, "Token file to write")->required();
  pack->add_option("--seq-len", o->seq_len, "Tokens per packed sequence (default: SEQ_LEN)")
      ->check(int_in(2, 1 << 20));
  pack->add_option("--dtype", o->dtype, "Token width: auto, uint16, uint32")
      ->check(CLI::IsMember({"auto", "uint16", "uint32"}));
  pack->add_option("--pad-id", o->pad_id,
                   "Token id used for padding (never a target; 0 to 65535 with --dtype uint16)")
      ->check(int_in(0, UINT32_MAX));
  pack->add_option("--tokenizer", o->tokenizer,
                   "Model directory or hub id org/name whose tokenizer encodes raw text "
                   "(tokenizer.model or tokenizer.json, tokenizer_config.json)");
  pack->add_option("--model", o->model, "The same as --tokenizer");
  pack->add_option("--chat-template", o->chat_template,
                   "Chat template for messages records: llama2, llama3, mistral or plain "
                   "(default: the family of tokenizer_config.json's chat_template)")
      ->check(CLI::IsMember(chat_family_names()));
  CLI::App* info = app->add_subcommand("info", "Print a token file's header as JSON");
  info->add_option("file", o->info_file, "Token file")->required();

  return {app, [o, pack, info](const CommandContext& ctx) {
            if (info->parsed()) {
              std::printf("%s\n", read_token_file(o->info_file).summary_json().dump(2).c_str());
              return 0;
            }
            (void)pack;
            PackOptions p;
            check_output_is_not_input(o->in, o->out);
            p.seq_len = o->seq_len ? *o->seq_len : *ctx.env.get_int("SEQ_LEN");
            p.pad_id = uint32_t(o->pad_id);
            p.dtype = o->dtype;
            if (!o->tokenizer.empty() && !o->model.empty() && o->tokenizer != o->model) {
              throw usage_error(fmt::format("--tokenizer {} and --model {} name different "
                                            "models; give one",
                                            o->tokenizer, o->model));
            }
            const std::string tok_name = o->tokenizer.empty() ? o->model : o->tokenizer;
            if (tok_name.empty() && !o->chat_template.empty()) {
              throw usage_error("--chat-template needs --tokenizer (raw text records)");
            }
            PackedDataset d;
            if (tok_name.empty()) {
              d = pack_jsonl(o->in, p);
            } else {
              const TokenizerFiles files = find_tokenizer_files(tok_name, hub::hub_settings(ctx.env));
              const auto tok = load_tokenizer(files);
              std::printf("tokenizer: %s (%s, vocabulary %lld, bos %s, eos %s)\n",
                          tok->source.c_str(), tok->kind().c_str(), (long long)tok->vocab_size(),
                          tok->bos ? fmt::format("{} = {}{}", tok->bos->text, tok->bos->id,
                                                 tok->add_bos ? "" : " (not added)")
                                         .c_str()
                                   : "none",
                          tok->eos ? fmt::format("{} = {}", tok->eos->text, tok->eos->id).c_str()
                                   : "none");
              std::fflush(stdout);  // before any error line about the records
              std::optional<ChatFamily> family;
              if (!o->chat_template.empty()) family = chat_family_from_name(o->chat_template);
              TextPackStats st;
              d = pack_text_records(read_file(o->in), o->in, p, *tok, family, &st);
              std::printf("records: %lld prompt/response, %lld messages, %lld Alpaca%s\n",
                          (long long)st.prompt_response, (long long)st.messages,
                          (long long)st.alpaca,
                          st.chat_family && st.messages > 0
                              ? fmt::format("; chat template {} (from {})",
                                            chat_family_name(*st.chat_family),
                                            st.chat_family_source)
                                    .c_str()
                              : "");
            }
            write_token_file(o->out, d);
            std::printf(
                "packed %lld records into %lld sequences of %lld tokens (%s, %lld target tokens, "
                "%lld truncated) -> %s\n",
                (long long)d.num_records, (long long)d.num_sequences, (long long)d.seq_len,
                d.bytes_per_token == 2 ? "uint16" : "uint32", (long long)d.num_target_tokens,
                (long long)d.num_truncated_records, o->out.c_str());
            std::printf("packing efficiency %.1f%%: %lld of %lld tokens are record tokens, %lld "
                        "padding; %lld target tokens (%.1f%% of all)\n",
                        100.0 * d.packing_efficiency(), (long long)d.num_record_tokens,
                        (long long)(d.num_sequences * d.seq_len),
                        (long long)(d.num_sequences * d.seq_len - d.num_record_tokens),
                        (long long)d.num_target_tokens,
                        100.0 * double(d.num_target_tokens) /
                            double(d.num_sequences * d.seq_len));
            return 0;
          }};
}

}  // namespace sxb
