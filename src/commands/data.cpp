// `sxbench data pack`: JSONL of pre-tokenised SFT records -> packed token file (train --data);
// `sxbench data info`: a token file's header.
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "commands/cli_values.hpp"
#include "commands/command.hpp"
#include "core/error.hpp"
#include "train/token_data.hpp"

namespace sxb {

namespace {
struct DataOptions {
  std::string in, out, dtype = "auto", info_file;
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
      "Pack JSONL records {\"prompt\": [ids], \"response\": [ids]} into seq_len "
      "sequences with a loss mask (response tokens only)");
  pack->add_option("--in", o->in, "JSONL file, one record per line")->required();
  pack->add_option("--out", o->out, "Token file to write")->required();
  pack->add_option("--seq-len", o->seq_len, "Tokens per packed sequence (default: SEQ_LEN)")
      ->check(int_in(2, 1 << 20));
  pack->add_option("--dtype", o->dtype, "Token width: auto, uint16, uint32")
      ->check(CLI::IsMember({"auto", "uint16", "uint32"}));
  pack->add_option("--pad-id", o->pad_id,
                   "Token id used for padding (never a target; 0 to 65535 with --dtype uint16)")
      ->check(int_in(0, UINT32_MAX));
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
            const PackedDataset d = pack_jsonl(o->in, p);
            write_token_file(o->out, d);
            std::printf(
                "packed %lld records into %lld sequences of %lld tokens (%s, %lld target tokens, "
                "%lld truncated) -> %s\n",
                (long long)d.num_records, (long long)d.num_sequences, (long long)d.seq_len,
                d.bytes_per_token == 2 ? "uint16" : "uint32", (long long)d.num_target_tokens,
                (long long)d.num_truncated_records, o->out.c_str());
            return 0;
          }};
}

}  // namespace sxb
