#pragma once
// Published records (configs/records/*.json): the best figure anyone has published for each kind
// of measurement, with its source, date and conditions. A figure above its record is
// implausible (src/validate says by how much); above a physical limit (configs/hardware) it is
// impossible. A record with a peak is compared as the fraction value / peak, so a record set on
// one GPU bounds another GPU through that GPU's own peak.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sxb {

struct Record {
  std::string id;         // unique across configs/records
  std::string kind;       // training_mfu, gemm_tflops, attention_tflops,
                          // collective_busbw_intra_node, ...
  std::string precision;  // "bf16", "fp16", "fp8", ... ; empty: any
  std::string op;         // a collective's name, "any", or empty (not a collective)
  // fp8 only: how the inputs were scaled when the record was set: "tensor" (one scalar per
  // matrix, the cuBLAS / Transformer Engine path) or "block" (fine-grained, per 1x128 / 128x128
  // block, applied per K-block in the accumulation: more work, so neither bounds the other);
  // empty: not stated (the record bounds every scaling).
  std::string scaling;
  double value = 0;
  std::string unit;
  std::optional<double> peak;  // the limit the record was measured against, in unit
  std::string peak_source;
  std::string source, url, date;
  std::string hardware, conditions;  // conditions: precision, parallelism, size in words

  // value / peak, or value / 100 for a percentage: what a measurement is compared with.
  double fraction() const;
  // "mfu_bf16_flashattention2: 72 % (source, date; hardware)" for findings.
  std::string cite() const;
};

// Every *.json under dir, sorted by name. A malformed file, a missing key, a figure that is not a
// positive finite number or a duplicated id is a one-line sxb::Error naming file and key.
std::vector<Record> load_records(const std::filesystem::path& dir);

// Precision classes that share a peak: bf16 and fp16 -> "16-bit", fp8_e4m3/fp8_e5m2/fp8 -> "fp8".
std::string precision_class(std::string_view dtype);

// fp8 scalings a record or a figure can state: "tensor", "block".
bool known_fp8_scaling(std::string_view scaling);

// The record of this kind with the highest fraction() whose precision class equals the given
// one (a record with no precision matches any), whose op equals op or is "any" (op empty: a
// kind without operations) and, for a record with a scaling, whose scaling equals the figure's
// (a block-scaled record does not bound a per-tensor figure, nor the reverse; a figure with no
// scaling is matched by records without one only). nullptr when none.
const Record* best_record(const std::vector<Record>& records, std::string_view kind,
                          std::string_view precision = {}, std::string_view op = {},
                          std::string_view scaling = {});

// What best_record was asked for, for a finding that found no record: "gemm_tflops, fp8_e4m3,
// tensor scaling" (empty parts left out).
std::string record_scope(std::string_view kind, std::string_view precision = {},
                         std::string_view op = {}, std::string_view scaling = {});

}  // namespace sxb
