#pragma once
// Model weights in the safetensors format (Hugging Face's checkpoints), read into and written
// from the engines' flat fp32 parameter layout (cpu::parameter_layout).
//
// File layout: 8 bytes little-endian header length N, N bytes of JSON header
//   {"<tensor name>": {"dtype": "BF16"|"F16"|"F32", "shape": [...], "data_offsets": [b, e]},
//    "__metadata__": {"<key>": "<string>", ...}}
// then the data: tensor bytes at [b, e) counted from the end of the header, little-endian,
// row-major. A sharded checkpoint has model.safetensors.index.json,
// {"weight_map": {"<tensor name>": "<shard file name>", ...}}, next to its shard files.
//
// Every failure is a one-line sxb::Error (usage class) naming the file and, where one is
// concerned, the tensor.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/numeric.hpp"
#include "model/model_config.hpp"

namespace sxb {

struct SafetensorsTensor {
  std::string name;
  DataType dtype = DataType::f32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets from the start of the data section
  int64_t elements() const;
};

// One .safetensors file's header, checked: every tensor's dtype is BF16, F16 or F32, its shape
// non-negative, end - begin = elements x dtype size, and [begin, end) inside the file's data.
// Tensors may not overlap.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(std::filesystem::path path);
  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when the file has no tensor of that name.
  const SafetensorsTensor* find(const std::string& name) const;
  // Reads a tensor's elements converted to fp32 into out[0 .. elements).
  void read_f32(const SafetensorsTensor& t, float* out) const;

 private:
  std::filesystem::path path_;
  uint64_t data_start_ = 0;
  std::map<std::string, SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write: fp32 values, stored as `dtype` (F32, BF16 or F16; rounded to nearest even).
struct SafetensorsOutput {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;  // elements of shape
};
// Writes one .safetensors file atomically (temporary name, rename): tensors in the given order,
// the header padded with spaces to a multiple of 8 bytes.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<SafetensorsOutput>& tensors, DataType dtype,
                       const std::map<std::string, std::string>& metadata = {});

// A checkpoint directory: model.safetensors.index.json with its shards when present, otherwise
// model.safetensors. Every tensor the index names must be in its shard.
class SafetensorsCheckpoint {
 public:
  explicit SafetensorsCheckpoint(const std::filesystem::path& dir);
  struct Located {
    const SafetensorsFile* file;
    const SafetensorsTensor* tensor;
  };
  // nullptr file when the checkpoint has no tensor of that name.
  Located find(const std::string& name) const;
  // All tensor names with their file.
  std::vector<Located> all() const;
  // The file a missing tensor is reported against: the index, or model.safetensors.
  const std::filesystem::path& source() const { return source_; }
  size_t file_count() const { return files_.size(); }

 private:
  std::filesystem::path source_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t> where_;  // tensor name -> files_ index
};

// What a checkpoint holds for a model: tensor count, files, and the dtypes seen.
struct PretrainedSummary {
  int64_t tensors = 0;
  size_t files = 0;
  std::vector<std::string> dtypes;  // sorted, e.g. {"BF16"}
  std::string source;               // the index or the single file
};

// Checks that `dir`'s checkpoint holds exactly the model's parameters (Hugging Face Llama names,
// cpu::parameter_layout): each tensor present with the shape the config implies ([out, in] for
// projections, as PyTorch's nn.Linear stores them, which is also the engines' layout). Rotary
// tables (*.rotary_emb.inv_freq, recomputed from the config) are ignored; any other tensor is an
// error, as a missing one is. Reads headers only.
PretrainedSummary check_pretrained(const ModelConfig& cfg, const std::filesystem::path& dir);
// check_pretrained, then every parameter converted to fp32 into the flat layout
// (cfg.param_count() elements).
std::vector<float> load_pretrained(const ModelConfig& cfg, const std::filesystem::path& dir);
// The same into out[0 .. cfg.param_count()) (an engine's own parameter buffer, no copy).
void load_pretrained(const ModelConfig& cfg, const std::filesystem::path& dir, float* out);
// Writes `dir`/config.json (Hugging Face form, hf_config_json) and `dir`/model.safetensors with
// the flat parameters under their Hugging Face names, stored as `dtype` (F32 or BF16 or F16).
void save_pretrained(const ModelConfig& cfg, const float* params, const std::filesystem::path& dir,
                     DataType dtype);

// "BF16", "F16", "F32".
std::string safetensors_dtype_name(DataType t);

}  // namespace sxb
