// safetensors weights: the format reader and writer (round trip in F32, BF16 and F16, sharded
// checkpoints), each malformed file refused in one line naming file and tensor, and a model's
// weights saved and loaded back into the CPU reference's flat layout.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <functional>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/numeric.hpp"
#include "model/model_config.hpp"
#include "train/cpu_model.hpp"
#include "train/safetensors.hpp"

namespace sxb {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path fresh_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("sxb_st_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

ModelConfig micro() {
  ModelConfig c;
  c.name = "micro";
  c.source = "built-in";
  c.hidden_size = 8;
  c.num_layers = 2;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.intermediate_size = 12;
  c.vocab_size = 16;
  c.max_position_embeddings = 32;
  return c;
}

// Raw file from a header (as given) and data bytes.
void write_raw(const fs::path& p, const std::string& header, const std::string& data) {
  std::ofstream f(p, std::ios::binary);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) f.put(char((n >> (8 * i)) & 0xff));
  f << header << data;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

std::vector<float> values(int64_t n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = scale * float(i - n / 2) + 0.123456789f;
  return v;
}

TEST(Safetensors, RoundTripInEveryDtype) {
  const fs::path d = fresh_dir("roundtrip");
  const std::vector<float> a = values(6, 0.37f), b = values(5, -1.9f);
  for (DataType t : {DataType::f32, DataType::bf16, DataType::f16}) {
    const fs::path p = d / ("x_" + safetensors_dtype_name(t) + ".safetensors");
    write_safetensors(p, {{"a", {2, 3}, a.data()}, {"b.weight", {5}, b.data()}}, t,
                      {{"format", "pt"}});
    const SafetensorsFile f(p);
    ASSERT_EQ(f.tensors().size(), 2u);
    EXPECT_EQ(f.metadata().at("format"), "pt");
    const SafetensorsTensor* ta = f.find("a");
    ASSERT_NE(ta, nullptr);
    EXPECT_EQ(ta->dtype, t);
    EXPECT_EQ(ta->shape, (std::vector<int64_t>{2, 3}));
    std::vector<float> ra(6), rb(5);
    f.read_f32(*ta, ra.data());
    f.read_f32(*f.find("b.weight"), rb.data());
    for (size_t i = 0; i < a.size(); ++i) {
      const float want = t == DataType::f32    ? a[i]
                         : t == DataType::bf16 ? bf16_bits_to_float(float_to_bf16_bits(a[i]))
                                               : half_bits_to_float(float_to_half_bits(a[i]));
      EXPECT_EQ(ra[i], want) << safetensors_dtype_name(t) << " element " << i;
    }
    for (size_t i = 0; i < b.size(); ++i) {
      const float tol = t == DataType::f32 ? 0.0f : t == DataType::bf16 ? 0.02f : 0.005f;
      EXPECT_NEAR(rb[i], b[i], tol * std::abs(b[i]));
    }
    // The header is padded to 8 bytes and the file holds exactly header + data.
    std::ifstream in(p, std::ios::binary);
    uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 8);
    EXPECT_EQ(n % 8, 0u);
    EXPECT_EQ(fs::file_size(p), 8 + n + 11 * dtype_size(t));
  }
  fs::remove_all(d);
}

TEST(Safetensors, ReadsFilesWrittenByOtherToolsBytewise) {
  // As the Python safetensors package writes it: F16 then BF16, little-endian.
  const fs::path d = fresh_dir("bytes");
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
      R"("b":{"dtype":"BF16","shape":[1,1],"data_offsets":[4,6]}})";
  // F16 1.0 = 0x3c00, -2.0 = 0xc000; BF16 0.5 = 0x3f00.
  write_raw(d / "m.safetensors", header, std::string("\x00\x3c\x00\xc0\x00\x3f", 6));
  const SafetensorsFile f(d / "m.safetensors");
  std::vector<float> h(2), b(1);
  f.read_f32(*f.find("h"), h.data());
  f.read_f32(*f.find("b"), b.data());
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(b[0], 0.5f);
  fs::remove_all(d);
}

TEST(Safetensors, MalformedFilesAreRefusedNamingFileAndTensor) {
  const fs::path d = fresh_dir("bad");
  const fs::path p = d / "bad.safetensors";
  const std::string path = p.string();
  auto check = [&](const std::string& header, const std::string& data, const std::string& want) {
    write_raw(p, header, data);
    const std::string e = error_of([&] { SafetensorsFile f(p); });
    EXPECT_NE(e.find(path), std::string::npos) << e;
    EXPECT_NE(e.find(want), std::string::npos) << "want \"" << want << "\" in: " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  };
  check(R"({"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0'),
        "tensor w: dtype \"I64\" is not supported");
  check(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'),
        "tensor w: data_offsets [0, 16] out of range: the file has 8 data bytes");
  check(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'),
        "tensor w: data_offsets [0, 8] hold 8 bytes, shape [3] in F32 needs 12");
  check(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", std::string(8, '\0'),
        "tensor w: data_offsets [8, 4] end before they begin");
  check(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(8, '\0'),
        "tensor w: shape dimensions must be non-negative integers");
  check(R"({"w":{"dtype":"F32","shape":[2]}})", std::string(8, '\0'),
        "tensor w: entry must be an object with dtype, shape and data_offsets");
  check(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
        std::string(8, '\0'), "tensor b overlaps tensor a");
  check(R"({"w": not json)", "", "header");
  check(R"([1, 2])", "", "header is not a JSON object");
  // Truncated: shorter than the length field, and a header length past the end of the file.
  {
    std::ofstream(p, std::ios::binary) << "abc";
    const std::string e = error_of([&] { SafetensorsFile f(p); });
    EXPECT_NE(e.find(path + ": truncated: 3 bytes"), std::string::npos) << e;
  }
  {
    std::ofstream f(p, std::ios::binary);
    const char len[8] = {100, 0, 0, 0, 0, 0, 0, 0};
    f.write(len, 8);
    f << "{}";
  }
  {
    const std::string e = error_of([&] { SafetensorsFile f(p); });
    EXPECT_NE(e.find(path + ": truncated: header length 100 but only 2 bytes follow it"),
              std::string::npos)
        << e;
  }
  // A file cut short after a valid write.
  const std::vector<float> v = values(64, 0.1f);
  write_safetensors(p, {{"w", {64}, v.data()}}, DataType::f32);
  fs::resize_file(p, fs::file_size(p) - 1);
  const std::string e = error_of([&] { SafetensorsFile f(p); });
  EXPECT_NE(e.find("tensor w: data_offsets [0, 256] out of range"), std::string::npos) << e;
  fs::remove_all(d);
}

TEST(Safetensors, ModelWeightsRoundTripThroughSaveAndLoad) {
  const ModelConfig c = micro();
  cpu::LlamaCpu<float> m(c, 1, 4);
  m.init_weights(7);
  for (DataType t : {DataType::f32, DataType::bf16}) {
    const fs::path d = fresh_dir(std::string("model_") + safetensors_dtype_name(t));
    save_pretrained(c, m.params().data(), d, t);
    // config.json reads back to the same shape.
    const ModelConfig back = resolve_model(d.string());
    EXPECT_EQ(back.param_count(), c.param_count());
    EXPECT_EQ(back.num_kv_heads, 1);
    const PretrainedSummary s = check_pretrained(back, d);
    EXPECT_EQ(s.tensors, int64_t(cpu::parameter_layout(c).size()));
    EXPECT_EQ(s.files, 1u);
    EXPECT_EQ(s.dtypes, std::vector<std::string>{safetensors_dtype_name(t)});
    const std::vector<float> w = load_pretrained(back, d);
    ASSERT_EQ(w.size(), m.params().size());
    for (size_t i = 0; i < w.size(); ++i) {
      const float p = m.params()[i];
      const float want = t == DataType::f32 ? p : bf16_bits_to_float(float_to_bf16_bits(p));
      ASSERT_EQ(w[i], want) << "element " << i;
    }
    // Hugging Face names and [out, in] shapes.
    const SafetensorsFile f(d / "model.safetensors");
    EXPECT_EQ(f.find("model.layers.1.self_attn.k_proj.weight")->shape,
              (std::vector<int64_t>{4, 8}));
    EXPECT_EQ(f.find("model.layers.0.mlp.down_proj.weight")->shape,
              (std::vector<int64_t>{8, 12}));
    EXPECT_EQ(f.find("lm_head.weight")->shape, (std::vector<int64_t>{16, 8}));
    fs::remove_all(d);
  }
}

// Splits a saved model.safetensors into two shards with an index, as Hugging Face does.
void shard(const ModelConfig& c, const fs::path& d, const std::vector<float>& w,
           const std::string& drop = "", const std::string& misfile = "") {
  fs::remove(d / "model.safetensors");
  const auto layout = cpu::parameter_layout(c);
  std::vector<SafetensorsOutput> first, second;
  json map = json::object();
  for (size_t i = 0; i < layout.size(); ++i) {
    const auto& p = layout[i];
    const bool in_first = i < layout.size() / 2;
    if (p.name != drop) (in_first ? first : second).push_back({p.name, p.shape, w.data() + p.offset});
    const std::string file = in_first ? "model-00001-of-00002.safetensors"
                                      : "model-00002-of-00002.safetensors";
    map[p.name] = p.name == misfile ? "model-00001-of-00002.safetensors" : file;
  }
  write_safetensors(d / "model-00001-of-00002.safetensors", first, DataType::bf16);
  write_safetensors(d / "model-00002-of-00002.safetensors", second, DataType::f16);
  std::ofstream(d / "model.safetensors.index.json")
      << json{{"metadata", {{"total_size", 0}}}, {"weight_map", map}}.dump();
}

TEST(Safetensors, ShardedCheckpointLoadsThroughItsIndex) {
  const ModelConfig c = micro();
  cpu::LlamaCpu<float> m(c, 1, 4);
  m.init_weights(11);
  const fs::path d = fresh_dir("sharded");
  save_pretrained(c, m.params().data(), d, DataType::f32);
  shard(c, d, m.params());
  const PretrainedSummary s = check_pretrained(c, d);
  EXPECT_EQ(s.files, 2u);
  EXPECT_EQ(s.dtypes, (std::vector<std::string>{"BF16", "F16"}));
  EXPECT_EQ(s.source, (d / "model.safetensors.index.json").string());
  const std::vector<float> w = load_pretrained(c, d);
  const auto layout = cpu::parameter_layout(c);
  for (size_t k = 0; k < layout.size(); ++k) {
    const auto& p = layout[k];
    for (int64_t i = 0; i < p.size; ++i) {
      const float v = m.params()[size_t(p.offset + i)];
      const float want = k < layout.size() / 2 ? bf16_bits_to_float(float_to_bf16_bits(v))
                                               : half_bits_to_float(float_to_half_bits(v));
      ASSERT_EQ(w[size_t(p.offset + i)], want) << p.name << " element " << i;
    }
  }
  // A tensor the index places in a shard that does not hold it.
  shard(c, d, m.params(), "", "lm_head.weight");
  std::string e = error_of([&] { check_pretrained(c, d); });
  EXPECT_NE(e.find("model.safetensors.index.json: tensor lm_head.weight: not in its shard"),
            std::string::npos)
      << e;
  // A shard the index names that does not exist.
  shard(c, d, m.params());
  fs::remove(d / "model-00002-of-00002.safetensors");
  e = error_of([&] { check_pretrained(c, d); });
  EXPECT_NE(e.find("model-00002-of-00002.safetensors: no such file"), std::string::npos) << e;
  fs::remove_all(d);
}

TEST(Safetensors, CheckpointThatDoesNotMatchTheConfigIsRefused) {
  const ModelConfig c = micro();
  cpu::LlamaCpu<float> m(c, 1, 4);
  m.init_weights(3);
  const fs::path d = fresh_dir("mismatch");
  const std::string file = (d / "model.safetensors").string();
  const auto layout = cpu::parameter_layout(c);
  auto write_with = [&](const std::function<void(std::vector<SafetensorsOutput>&)>& edit) {
    std::vector<SafetensorsOutput> t;
    for (const auto& p : layout) t.push_back({p.name, p.shape, m.params().data() + p.offset});
    edit(t);
    write_safetensors(d / "model.safetensors", t, DataType::bf16);
  };
  // Missing tensor.
  write_with([](auto& t) { t.pop_back(); });
  std::string e = error_of([&] { check_pretrained(c, d); });
  EXPECT_EQ(e, file + ": tensor lm_head.weight missing (the model's config implies shape [16, 8])");
  // Wrong shape: [in, out] instead of nn.Linear's [out, in].
  const std::vector<float> buf(8 * 12, 0.5f);
  write_with([&](auto& t) {
    for (auto& x : t) {
      if (x.name == "model.layers.0.mlp.gate_proj.weight") x = {x.name, {8, 12}, buf.data()};
    }
  });
  e = error_of([&] { check_pretrained(c, d); });
  EXPECT_EQ(e, file + ": tensor model.layers.0.mlp.gate_proj.weight has shape [8, 12], the "
                      "model's config implies [12, 8]");
  // A tensor this model does not have (a third layer).
  write_with([&](auto& t) {
    t.push_back({"model.layers.2.input_layernorm.weight", {8}, buf.data()});
  });
  e = error_of([&] { check_pretrained(c, d); });
  EXPECT_NE(e.find(file + ": tensor model.layers.2.input_layernorm.weight is not a parameter of "
                          "micro (2 layers"),
            std::string::npos)
      << e;
  // Rotary tables are recomputed from the config and may be present.
  write_with([&](auto& t) {
    t.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", {2}, buf.data()});
  });
  EXPECT_EQ(check_pretrained(c, d).tensors, int64_t(layout.size()));
  // A non-finite weight is refused when loaded.
  std::vector<float> nan_norm(8, 1.0f);
  nan_norm[3] = std::nanf("");
  write_with([&](auto& t) {
    for (auto& x : t) {
      if (x.name == "model.norm.weight") x.data = nan_norm.data();
    }
  });
  e = error_of([&] { load_pretrained(c, d); });
  EXPECT_NE(e.find(file + ": tensor model.norm.weight: element 3 is not finite"),
            std::string::npos)
      << e;
  // No weights at all.
  fs::remove(d / "model.safetensors");
  e = error_of([&] { check_pretrained(c, d); });
  EXPECT_EQ(e, d.string() +
                   ": no model.safetensors or model.safetensors.index.json (safetensors weights)");
  fs::remove_all(d);
}

}  // namespace
}  // namespace sxb
