// safetensors weights (train --init pretrained): the input is a .safetensors file, written to a
// scratch path and read as the loader reads it: the header checked, then every tensor it lists
// converted to fp32, and the whole checked against a small Llama shape.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_contract.hpp"
#include "model/model_config.hpp"
#include "train/safetensors.hpp"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sxb;
  static const fs::path dir = [] {
    const fs::path d = fs::temp_directory_path() / ("sxb_fuzz_st_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  std::ofstream(dir / "model.safetensors", std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), std::streamsize(size));
  std::vector<float> out;
  fuzz::parses([&] {
    const SafetensorsFile f(dir / "model.safetensors");
    for (const auto& [name, t] : f.tensors()) {
      out.resize(size_t(t.elements()));
      f.read_f32(t, out.data());
    }
  });
  ModelConfig m;
  m.name = "micro";
  m.source = (dir / "config.json").string();
  m.hidden_size = 8;
  m.num_layers = 1;
  m.num_heads = 2;
  m.num_kv_heads = 1;
  m.intermediate_size = 12;
  m.vocab_size = 16;
  m.max_position_embeddings = 32;
  fuzz::parses([&] { (void)load_pretrained(m, dir); });
  return 0;
}
