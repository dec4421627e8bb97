// CPU-side logic of `sxbench compute`: FLOP counts, shape lists, sweeps, the GEMM reference and
// error measure, fp8 decoding, the test registry, device lists, topology classification and
// compute.json round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>

#include "bench/compute_tests.hpp"
#include "bench/gemm_shapes.hpp"
#include "bench/link_topology.hpp"
#include "commands/compute_attention.hpp"
#include "commands/compute_job.hpp"
#include "core/compute_results.hpp"
#include "core/error.hpp"

namespace sxb {

namespace {

template <typename F>
ExitCode error_code_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.code();
  }
  ADD_FAILURE() << "no sxb::Error thrown";
  return ExitCode::ok;
}

const GemmShape& find_shape(const std::vector<GemmShape>& shapes, const std::string& name,
                            const std::string& phase) {
  for (const auto& s : shapes) {
    if (s.name == name && s.phase == phase) return s;
  }
  throw std::runtime_error("shape " + name + "/" + phase + " missing");
}

}  // namespace

TEST(GemmFlop, TwoPerMultiplyAdd) {
  EXPECT_DOUBLE_EQ(gemm_flop(8192, 8192, 8192), 2.0 * 8192.0 * 8192.0 * 8192.0);
  EXPECT_DOUBLE_EQ(gemm_flop(4096, 12288, 4096), 412316860416.0);
  EXPECT_DOUBLE_EQ(gemm_flop(1, 1, 1), 2.0);
}

TEST(GemmDtypes, ParseListAndSpecKeys) {
  EXPECT_EQ(parse_gemm_dtype_list("all").size(), 4u);
  EXPECT_EQ(parse_gemm_dtype_list("bf16,fp8,bf16"),
            (std::vector<GemmDtype>{GemmDtype::bf16, GemmDtype::fp8_e4m3}));
  EXPECT_EQ(parse_gemm_dtype("e4m3"), GemmDtype::fp8_e4m3);
  EXPECT_EQ(error_code_of([] { parse_gemm_dtype_list("bf16,int8"); }), ExitCode::usage);
  EXPECT_EQ(error_code_of([] { parse_gemm_dtype_list(""); }), ExitCode::usage);
  EXPECT_EQ(gemm_spec_key(GemmDtype::bf16), "dense_bf16_tflops");
  EXPECT_EQ(gemm_spec_key(GemmDtype::fp16), "dense_fp16_tflops");
  EXPECT_EQ(gemm_spec_key(GemmDtype::tf32), "dense_tf32_tflops");
  EXPECT_EQ(gemm_spec_key(GemmDtype::fp8_e4m3), "dense_fp8_tflops");
  EXPECT_EQ(gemm_input_element_bytes(GemmDtype::fp8_e4m3), 1u);
  EXPECT_EQ(gemm_output_element_bytes(GemmDtype::fp8_e4m3), 2u);
  EXPECT_EQ(gemm_input_element_bytes(GemmDtype::tf32), 4u);
  EXPECT_EQ(parse_gemm_layout("nn"), GemmLayout::nn);
  EXPECT_EQ(error_code_of([] { parse_gemm_layout("nt"); }), ExitCode::usage);
}

TEST(GemmShapes, SquareSweepDoubles) {
  const auto s = square_gemm_shapes(1024, 16384);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s.front().m, 1024);
  EXPECT_EQ(s.back().k, 16384);
  EXPECT_EQ(s[2].name, "4096");
  EXPECT_EQ(square_gemm_shapes(8192, 8192).size(), 1u);
  EXPECT_EQ(square_gemm_shapes(1024, 3000).size(), 2u);  // 1024, 2048
  EXPECT_EQ(error_code_of([] { square_gemm_shapes(1000, 2000); }), ExitCode::usage);
  EXPECT_EQ(error_code_of([] { square_gemm_shapes(2048, 1024); }), ExitCode::usage);
  EXPECT_EQ(error_code_of([] { square_gemm_shapes(0, 1024); }), ExitCode::usage);
}

TEST(GemmShapes, Llama2SevenBForward) {
  const auto g = llama2_gemm_groups().at(0);
  ASSERT_EQ(g.group, "llama2-7b");
  const auto s = llama_training_shapes(g.group, g.model, 4096, false);
  ASSERT_EQ(s.size(), 5u);
  const auto& qkv = find_shape(s, "qkv", "fwd");
  EXPECT_EQ(qkv.m, 4096);
  EXPECT_EQ(qkv.n, 3 * 4096);
  EXPECT_EQ(qkv.k, 4096);
  const auto& up = find_shape(s, "mlp_up_gate", "fwd");
  EXPECT_EQ(up.n, 2 * 11008);
  EXPECT_EQ(up.k, 4096);
  const auto& down = find_shape(s, "mlp_down", "fwd");
  EXPECT_EQ(down.n, 4096);
  EXPECT_EQ(down.k, 11008);
  const auto& head = find_shape(s, "lm_head", "fwd");
  EXPECT_EQ(head.n, 32000);
  EXPECT_EQ(find_shape(s, "attn_out", "fwd").n, 4096);
}

TEST(GemmShapes, Llama2SeventyBUsesGroupedQueryAttention) {
  const auto g = llama2_gemm_groups().at(2);
  ASSERT_EQ(g.group, "llama2-70b");
  EXPECT_EQ(g.model.head_dim(), 128);
  const auto s = llama_training_shapes(g.group, g.model, 8192, true);
  ASSERT_EQ(s.size(), 15u);
  // 64 query heads + 2 x 8 key/value heads of 128.
  EXPECT_EQ(find_shape(s, "qkv", "fwd").n, 8192 + 2 * 8 * 128);
  EXPECT_EQ(find_shape(s, "qkv", "fwd").m, 8192);
  const auto& dgrad = find_shape(s, "mlp_down", "dgrad");
  EXPECT_EQ(dgrad.m, 8192);
  EXPECT_EQ(dgrad.n, 28672);
  EXPECT_EQ(dgrad.k, 8192);
  const auto& wgrad = find_shape(s, "mlp_down", "wgrad");
  EXPECT_EQ(wgrad.m, 8192);   // out features
  EXPECT_EQ(wgrad.n, 28672);  // in features
  EXPECT_EQ(wgrad.k, 8192);   // tokens
  // Forward, dgrad and wgrad of one layer do the same work.
  const auto& f = find_shape(s, "lm_head", "fwd");
  const auto& w = find_shape(s, "lm_head", "wgrad");
  EXPECT_DOUBLE_EQ(gemm_flop(f.m, f.n, f.k), gemm_flop(w.m, w.n, w.k));
}

TEST(GemmShapes, GroupsParse) {
  GemmShapeOptions o;
  EXPECT_EQ(parse_gemm_shapes("all", o).size(), 5u + 15u);
  EXPECT_EQ(parse_gemm_shapes("llama2", o).size(), 15u);
  EXPECT_EQ(parse_gemm_shapes("llama2-13b,llama2-13b", o).size(), 5u);
  o.backward = true;
  o.tokens = 8192;
  const auto s = parse_gemm_shapes("llama2-13b", o);
  EXPECT_EQ(s.size(), 15u);
  EXPECT_EQ(find_shape(s, "qkv", "fwd").n, 3 * 5120);
  EXPECT_EQ(find_shape(s, "qkv", "fwd").m, 8192);
  EXPECT_EQ(error_code_of([&] { parse_gemm_shapes("gpt3", o); }), ExitCode::usage);
  // Any registry model is a group, listed under its registry name.
  const auto tiny_shapes = parse_gemm_shapes("tiny", o);
  ASSERT_EQ(tiny_shapes.size(), 15u);
  EXPECT_EQ(tiny_shapes[0].group, "tiny");
  const ModelConfig tiny = resolve_model("tiny");
  EXPECT_EQ(find_shape(tiny_shapes, "mlp_up_gate", "fwd").n, 2 * tiny.intermediate_size);
  EXPECT_EQ(find_shape(tiny_shapes, "lm_head", "fwd").n, tiny.vocab_size);
  EXPECT_EQ(error_code_of([&] { parse_gemm_shapes(",", o); }), ExitCode::usage);
}

TEST(GemmRotation, ExceedsTargetWithinBounds) {
  const uint64_t l2 = 60ull << 20;
  EXPECT_EQ(gemm_rotation_sets(256ull << 20, 4 * l2, 2, 64), 2);  // big: the minimum
  EXPECT_EQ(gemm_rotation_sets(4ull << 20, 4 * l2, 2, 64), 60);   // 4 MiB sets: 240 MiB / 4
  EXPECT_EQ(gemm_rotation_sets(5ull << 20, 4 * l2, 2, 64), 48);
  EXPECT_EQ(gemm_rotation_sets(1ull << 20, 4 * l2, 2, 64), 64);  // capped
  EXPECT_EQ(gemm_rotation_sets(100, 0, 3, 64), 3);
  const int sets = gemm_rotation_sets(7ull << 20, 4 * l2, 2, 64);
  EXPECT_GE(uint64_t(sets) * (7ull << 20), 4 * l2);
}

TEST(GemmReference, LayoutsAgree) {
  const int64_t m = 5, n = 7, k = 3;
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> a(m * k), b_nn(k * n), b_tn(n * k);
  for (auto& x : a) x = u(rng);
  for (int64_t p = 0; p < k; ++p) {
    for (int64_t j = 0; j < n; ++j) {
      b_nn[p * n + j] = u(rng);
      b_tn[j * k + p] = b_nn[p * n + j];
    }
  }
  const auto c_nn = reference_gemm(GemmLayout::nn, m, n, k, a, b_nn);
  const auto c_tn = reference_gemm(GemmLayout::tn, m, n, k, a, b_tn);
  ASSERT_EQ(c_nn.size(), size_t(m * n));
  for (size_t i = 0; i < c_nn.size(); ++i) EXPECT_DOUBLE_EQ(c_nn[i], c_tn[i]);
  // [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50]
  const auto c = reference_gemm(GemmLayout::nn, 2, 2, 2, {1, 2, 3, 4}, {5, 6, 7, 8});
  EXPECT_EQ(c, (std::vector<double>{19, 22, 43, 50}));
  EXPECT_THROW(reference_gemm(GemmLayout::nn, 2, 2, 2, {1, 2, 3}, {5, 6, 7, 8}), Error);
}

TEST(GemmReference, RelativeError) {
  EXPECT_EQ(relative_frobenius_error({1, 2, 3}, {1, 2, 3}), 0.0);
  EXPECT_NEAR(relative_frobenius_error({3, 0}, {3, 4}), 4.0 / 5.0, 1e-15);
  EXPECT_TRUE(std::isinf(relative_frobenius_error({NAN, 1}, {1, 1})));
  EXPECT_TRUE(std::isinf(relative_frobenius_error({INFINITY, 1}, {1, 1})));
  EXPECT_TRUE(std::isinf(relative_frobenius_error({1}, {1, 1})));
  for (GemmDtype t : parse_gemm_dtype_list("all")) {
    EXPECT_GT(gemm_check_tolerance(t), 0.0);
    EXPECT_LT(gemm_check_tolerance(t), 0.05);
  }
}

TEST(Fp8, E4m3Decoding) {
  EXPECT_EQ(fp8_e4m3_bits_to_float(0x38), 1.0f);
  EXPECT_EQ(fp8_e4m3_bits_to_float(0xB8), -1.0f);
  EXPECT_EQ(fp8_e4m3_bits_to_float(0x7E), 448.0f);                // largest finite
  EXPECT_EQ(fp8_e4m3_bits_to_float(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(fp8_e4m3_bits_to_float(0x20), 0.125f);
  EXPECT_EQ(fp8_e4m3_bits_to_float(0x3C), 1.5f);
  EXPECT_EQ(fp8_e4m3_bits_to_float(0x00), 0.0f);
  EXPECT_TRUE(std::isnan(fp8_e4m3_bits_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(fp8_e4m3_bits_to_float(0xFF)));
}

TEST(ComputeRegistry, NamesDescriptionsAndLookup) {
  std::vector<std::string> names;
  const auto& registry = all_compute_tests();
  for (const auto& t : registry) {
    names.emplace_back(t.name);
    EXPECT_FALSE(t.description.empty()) << t.name;
    EXPECT_FALSE(t.method.empty()) << t.name;
    EXPECT_NE(t.run, nullptr) << t.name;
    EXPECT_GE(t.min_gpus, 1) << t.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"gemm", "hbm", "p2p", "h2d", "d2h", "attention"}));
  EXPECT_EQ(compute_tests().size(), 5u);  // bench's own, without the engine's attention
  EXPECT_EQ(find_compute_test(registry, "p2p").min_gpus, 2);
  EXPECT_EQ(find_compute_test(registry, "attention").min_gpus, 1);
  EXPECT_EQ(parse_compute_test_list(registry, "all").size(), 6u);
  const auto picked = parse_compute_test_list(registry, "hbm, gemm,hbm,attention");
  ASSERT_EQ(picked.size(), 3u);
  EXPECT_EQ(picked[0]->name, "hbm");
  EXPECT_EQ(picked[1]->name, "gemm");
  EXPECT_EQ(picked[2]->name, "attention");
  try {
    parse_compute_test_list(registry, "gemm,nvlink");
    ADD_FAILURE() << "accepted an unknown test";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("known: gemm, hbm, p2p, h2d, d2h, attention"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(error_code_of([&] { parse_compute_test_list(registry, ""); }), ExitCode::usage);
}

// FlashAttention's count: causal forward 4 B H T^2 d / 2, backward 2.5x; a window W < T counts
// the band W T - W^2 / 2, and a window of T or more is no window.
TEST(ComputeAttention, FlopCountIsFlashAttentionsConvention) {
  const AttentionBenchShape llama{"x", 1, 32, 32, 4096, 128, 0};
  EXPECT_DOUBLE_EQ(attention_flop(llama, false), 4.0 * 32 * 4096.0 * 4096.0 * 128 / 2);
  EXPECT_DOUBLE_EQ(attention_flop(llama, true), 2.5 * attention_flop(llama, false));
  // The issue table's figure: 0.276 ms at 499 TF/s for the cuDNN forward at this shape.
  EXPECT_NEAR(attention_flop(llama, false) / 0.276e-3 / 1e12, 498, 1);
  AttentionBenchShape windowed{"x", 2, 32, 8, 8192, 128, 4096};
  EXPECT_DOUBLE_EQ(attention_flop(windowed, false),
                   4.0 * 2 * 32 * 128 * (4096.0 * 8192 - 4096.0 * 4096 / 2));
  windowed.window = 8192;
  EXPECT_DOUBLE_EQ(attention_flop(windowed, false), 4.0 * 2 * 32 * 128 * 8192.0 * 8192 / 2);
}

TEST(ComputeAttention, DefaultShapesAreThePublishedPairThenEachModelsShapeOnce) {
  const auto shapes = parse_attention_shapes("default");
  ASSERT_GE(shapes.size(), 3u);
  EXPECT_EQ(std::tie(shapes[0].heads, shapes[0].kv_heads, shapes[0].seq, shapes[0].head_dim),
            std::make_tuple(int64_t(32), int64_t(32), int64_t(4096), int64_t(128)));
  EXPECT_EQ(std::tie(shapes[1].heads, shapes[1].kv_heads, shapes[1].seq, shapes[1].head_dim),
            std::make_tuple(int64_t(32), int64_t(8), int64_t(8192), int64_t(128)));
  bool mistral_window = false;
  for (size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_EQ(shapes[i].batch, 1);
    EXPECT_EQ(shapes[i].heads % shapes[i].kv_heads, 0);
    for (size_t j = 0; j < i; ++j) {
      const bool same = shapes[i].heads == shapes[j].heads &&
                        shapes[i].kv_heads == shapes[j].kv_heads &&
                        shapes[i].seq == shapes[j].seq &&
                        shapes[i].head_dim == shapes[j].head_dim &&
                        (shapes[i].window % shapes[i].seq) == (shapes[j].window % shapes[j].seq);
      EXPECT_FALSE(same) << i << " repeats " << j;
    }
    if (shapes[i].window == 4096 && shapes[i].seq == 8192) {
      mistral_window = true;
      EXPECT_NE(shapes[i].label.find("Mistral"), std::string::npos) << shapes[i].label;
    }
  }
  EXPECT_TRUE(mistral_window) << "Mistral-7B's sliding window at 8192 is missing";
}

TEST(ComputeAttention, ShapeListsAreParsedOrRefusedNamingTheItem) {
  const auto s = parse_attention_shapes("1x32x8x8192x128, 2x16x16x1000x64x256");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].kv_heads, 8);
  EXPECT_EQ(s[0].window, 0);
  EXPECT_EQ(s[1].batch, 2);
  EXPECT_EQ(s[1].head_dim, 64);
  EXPECT_EQ(s[1].window, 256);
  // "default" inside a list stands for the default shapes, in place.
  const auto defaults = parse_attention_shapes("default");
  const auto mixed = parse_attention_shapes("default,1x32x32x4096x64");
  ASSERT_EQ(mixed.size(), defaults.size() + 1);
  EXPECT_EQ(mixed.front().label, defaults.front().label);
  EXPECT_EQ(mixed.back().head_dim, 64);
  EXPECT_EQ(mixed.back().label, "--attention-shapes");
  for (const char* bad : {"1x32x8x8192", "1x32x5x4096x128", "1x32x8x4096x96", "0x32x8x4096x128",
                          "1x32x8x4096x128x0", "64x32x8x32768x128", "1xx8x4096x128", ""}) {
    try {
      parse_attention_shapes(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::usage) << bad;
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      if (*bad) EXPECT_NE(what.find(bad), std::string::npos) << what;
    }
  }
}

TEST(ComputeRegistry, DeviceLists) {
  EXPECT_EQ(parse_device_list("all", 3), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(parse_device_list("2,0,2", 3), (std::vector<int>{2, 0}));
  EXPECT_EQ(error_code_of([] { parse_device_list("4", 2); }), ExitCode::environment);
  EXPECT_EQ(error_code_of([] { parse_device_list("x", 2); }), ExitCode::usage);
  EXPECT_EQ(error_code_of([] { parse_device_list("-1", 2); }), ExitCode::usage);
  EXPECT_EQ(error_code_of([] { parse_device_list("1x", 2); }), ExitCode::usage);
}

TEST(Topology, PciAddresses) {
  const auto cuda = parse_pci_address("0000:19:00.0");
  const auto nvml = parse_pci_address("00000000:19:00.0");
  ASSERT_TRUE(cuda && nvml);
  EXPECT_EQ(*cuda, *nvml);
  EXPECT_EQ(cuda->bus, 0x19u);
  EXPECT_EQ(parse_pci_address("0000:AB:01.1")->bus, 0xABu);
  EXPECT_FALSE(parse_pci_address("garbage"));
  EXPECT_FALSE(parse_pci_address("0000:19:00.0 extra"));
}

TEST(Topology, ClassifiesPairs) {
  NvlinkState a, b;
  a.info.nvlink_links_to_switch = 0;
  b.info.nvlink_links_to_switch = 0;
  const PciAddress addr_b{0, 0x2a, 0, 0};
  a.gpu_peers = {addr_b, addr_b, {0, 0x3b, 0, 0}};
  auto p = classify_gpu_pair(0, 1, {true, 0, true}, true, a, b, addr_b);
  EXPECT_EQ(p.link, "nvlink");
  EXPECT_NE(p.evidence.find("2 active NVLink"), std::string::npos) << p.evidence;

  a.gpu_peers.clear();
  a.info.nvlink_links_to_switch = 18;
  b.info.nvlink_links_to_switch = 18;
  EXPECT_EQ(classify_gpu_pair(0, 1, {true, 0, true}, true, a, b, addr_b).link, "nvlink");
  EXPECT_EQ(classify_gpu_pair(0, 1, {false, 0, false}, true, a, b, addr_b).link, "none");

  a.info.nvlink_links_to_switch = 0;
  EXPECT_EQ(classify_gpu_pair(0, 1, {true, 1, false}, true, a, b, addr_b).link, "pcie");

  // Without NVML the answer is inferred and says so.
  p = classify_gpu_pair(0, 1, {true, 0, true}, false, a, b, addr_b);
  EXPECT_EQ(p.link, "nvlink");
  EXPECT_NE(p.evidence.find("inferred"), std::string::npos);
  EXPECT_EQ(classify_gpu_pair(0, 1, {true, 0, false}, false, a, b, addr_b).link, "pcie");
  EXPECT_EQ(classify_gpu_pair(0, 1, {false, 0, false}, false, a, b, addr_b).link, "none");
}

TEST(ComputeResults, SpecComparison) {
  const auto s = compare_with_spec(791.6, "dense_bf16_tflops", 989.4);
  ASSERT_TRUE(s.fraction);
  EXPECT_NEAR(*s.fraction, 0.8001, 1e-4);
  EXPECT_FALSE(compare_with_spec(1, "x", std::nullopt).fraction);
  EXPECT_FALSE(compare_with_spec(1, "x", 0.0).fraction);
}

TEST(ComputeResults, JsonRoundTrip) {
  ComputeReport r;
  r.tool_version = "0.1.0";
  r.status = "complete";
  r.argv = {"sxbench", "compute"};
  r.devices.push_back(
      {0, "NVIDIA H200", "0000:19:00.0", 132, 9, 0, 62914560, 150ull << 30, "h200_sxm"});
  r.params = {{"iters", 50}};
  r.methods = {{"gemm", "events"}};
  r.tests = {"gemm", "hbm"};
  r.gemm_checks.push_back({0, "bf16", "tn", 384, 640, 512, 2.5e-3, 1e-2, true});
  r.gemm_checks.push_back({0, "fp16", "tn", 384, 640, 512, INFINITY, 2e-3, false});
  GemmResult g;
  g.dtype = "bf16";
  g.group = "square";
  g.name = "8192";
  g.phase = "-";
  g.m = g.n = g.k = 8192;
  g.flop = gemm_flop(8192, 8192, 8192);
  g.time_us_median = 1400;
  g.tflop_per_s = 785.4;
  g.spec = compare_with_spec(785.4, "dense_bf16_tflops", 989.4);
  r.gemm.push_back(g);
  BandwidthResult b;
  b.test = "hbm";
  b.variant = "copy";
  b.src_device = b.dst_device = 0;
  b.gb_per_s = 4300;
  b.spec = compare_with_spec(4300, "hbm_bandwidth_gb_per_s", std::nullopt);
  r.bandwidth.push_back(b);
  r.latency.push_back({"hbm", "sm_pointer_chase", 0, 0, 256 << 20, 0.65, 20000});
  ComputeTopology topo;
  GpuLinkInfo gi;
  gi.device = 0;
  gi.nvlink_active_links = 18;
  topo.gpus.push_back(gi);
  topo.pairs.push_back({0, 1, true, 0, true, "nvlink", "NVML"});
  topo.nvml = "ok";
  r.topology = topo;
  r.skipped.push_back({"p2p", "needs at least 2 GPUs, 1 chosen"});

  const nlohmann::json j = r;
  EXPECT_TRUE(j["gemm_checks"][1]["relative_error"].is_null());
  EXPECT_TRUE(j["bandwidth"][0]["spec"]["fraction"].is_null());
  EXPECT_TRUE(j["topology"]["gpus"][0]["pcie_link_width"].is_null());
  const auto back = nlohmann::json::parse(j.dump()).get<ComputeReport>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(back.gemm.at(0).tflop_per_s, 785.4);
  EXPECT_NEAR(*back.gemm.at(0).spec.fraction, 785.4 / 989.4, 1e-12);
  EXPECT_TRUE(std::isinf(back.gemm_checks.at(1).relative_error));
  EXPECT_EQ(back.topology->gpus.at(0).nvlink_active_links, 18);
  EXPECT_FALSE(back.topology->gpus.at(0).pcie_link_width);

  ComputeReport empty;
  const nlohmann::json je = empty;
  EXPECT_TRUE(je["topology"].is_null());
  EXPECT_FALSE(je.get<ComputeReport>().topology);
}

}  // namespace sxb
