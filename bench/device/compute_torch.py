"""PyTorch reference figures for `sxbench compute`, measured the same way, and the comparison.

  python3 compute_torch.py [--size 8192] [--iters 50] [--warmup 10] [--copy-bytes 4G]
      bf16 `A @ B` (contiguous row-major, random normal data, input sets rotated so that they
      exceed 4 L2 sizes, one CUDA event pair per product, median), fp8 through torch._scaled_mm
      (A·Bᵀ layout, bf16 output, fast accumulation) when available, and a device copy
      (dst.copy_(src), bytes read + written). Prints one `RESULT {json}` line.
  python3 compute_torch.py --compare compute.json torch.log
      sxbench's figures against the PyTorch ones, as a ratio table.
  python3 compute_torch.py --matmul-only
      only the bf16 `A @ B` figure (for interleaved rounds).
  python3 compute_torch.py --rounds rounds.log
      the interleaved rounds (lines "ROUND <i> <who> <TFLOP/s>"): per round and the median.
"""
import argparse
import json
import math
import statistics
import sys


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def event_median_us(torch, fn, warmup, iters):
    for i in range(warmup):
        fn(i)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    stops = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    for i in range(iters):
        starts[i].record()
        fn(i)
        stops[i].record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) * 1000.0 for s, e in zip(starts, stops))


def rotation_sets(bytes_per_set, l2_bytes, multiple=4, min_sets=2, max_sets=64):
    needed = math.ceil(multiple * l2_bytes / bytes_per_set)
    return max(min_sets, min(max_sets, needed))


def measure(args):
    import torch

    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    n = args.size
    flop = 2.0 * n * n * n
    out = {"device": props.name, "torch": torch.__version__, "size": n, "l2_bytes": l2}

    sets = rotation_sets(2 * n * n * 2, l2)
    a = [torch.randn(n, n, device=dev, dtype=torch.bfloat16) for _ in range(sets)]
    b = [torch.randn(n, n, device=dev, dtype=torch.bfloat16) for _ in range(sets)]
    us = event_median_us(torch, lambda i: a[i % sets] @ b[i % sets], args.warmup, args.iters)
    out["bf16_matmul"] = {"input_sets": sets, "time_us_median": us,
                          "tflop_per_s": flop / (us * 1e-6) / 1e12}
    del a, b
    if args.matmul_only:
        print("RESULT " + json.dumps(out), flush=True)
        return

    if hasattr(torch, "_scaled_mm") and hasattr(torch, "float8_e4m3fn"):
        sets8 = rotation_sets(2 * n * n, l2)
        a8 = [torch.randn(n, n, device=dev).to(torch.float8_e4m3fn) for _ in range(sets8)]
        # _scaled_mm wants the second operand column-major: the transpose of a row-major [N,K].
        b8 = [torch.randn(n, n, device=dev).to(torch.float8_e4m3fn).t() for _ in range(sets8)]
        one = torch.tensor(1.0, device=dev)
        try:
            us8 = event_median_us(
                torch,
                lambda i: torch._scaled_mm(a8[i % sets8], b8[i % sets8], scale_a=one, scale_b=one,
                                           out_dtype=torch.bfloat16, use_fast_accum=True),
                args.warmup, args.iters)
            out["fp8_scaled_mm"] = {"input_sets": sets8, "time_us_median": us8,
                                    "tflop_per_s": flop / (us8 * 1e-6) / 1e12}
        except RuntimeError as e:  # reported, not hidden
            out["fp8_scaled_mm"] = {"error": str(e).splitlines()[0]}
        del a8, b8

    nbytes = parse_size(args.copy_bytes)
    src = torch.rand(nbytes // 4, device=dev)
    dst = torch.empty_like(src)
    us_copy = event_median_us(torch, lambda i: dst.copy_(src), 3, 20)
    out["copy"] = {"bytes": nbytes, "time_us_median": us_copy,
                   "gb_per_s": 2 * nbytes / (us_copy * 1e-6) / 1e9}
    print("RESULT " + json.dumps(out), flush=True)


def compare(ours_path, torch_path):
    ours = json.load(open(ours_path))
    ref = None
    for line in open(torch_path):
        if line.startswith("RESULT "):
            ref = json.loads(line[len("RESULT "):])
    if ref is None:
        sys.exit(f"no RESULT line in {torch_path}")
    n = str(ref["size"])
    rows = []

    def gemm(dtype, layout):
        for g in ours["gemm"]:
            if g["group"] == "square" and g["name"] == n and g["dtype"] == dtype and g["layout"] == layout:
                return g["tflop_per_s"]
        return None

    for layout in ("tn", "nn"):
        v = gemm("bf16", layout)
        if v is not None:
            rows.append((f"bf16 {n}^3 {layout} TFLOP/s", v, "torch A @ B", ref["bf16_matmul"]["tflop_per_s"]))
    fp8 = ref.get("fp8_scaled_mm", {})
    v = gemm("fp8_e4m3", "tn")
    if v is not None:
        rows.append((f"fp8 {n}^3 tn TFLOP/s", v, "torch _scaled_mm", fp8.get("tflop_per_s")))
    for b in ours["bandwidth"]:
        if b["test"] == "hbm" and b["variant"] in ("copy", "memcpy"):
            rows.append((f"hbm {b['variant']} GB/s", b["gb_per_s"], "torch copy_", ref["copy"]["gb_per_s"]))
    print(f"{'figure':<24} {'sxbench':>10} {'reference':<18} {'torch':>10} {'ratio':>8}")
    for name, mine, what, theirs in rows:
        ratio = f"{mine / theirs * 100:.1f}%" if theirs else "-"
        theirs_text = f"{theirs:.1f}" if theirs else "-"
        print(f"{name:<24} {mine:>10.1f} {what:<18} {theirs_text:>10} {ratio:>8}")


def rounds(path):
    table = {}
    for line in open(path):
        parts = line.split()
        if len(parts) == 4 and parts[0] == "ROUND":
            table.setdefault(parts[2], []).append(float(parts[3]))
    ref = table.get("torch_A@B")
    if not ref:
        sys.exit(f"no torch rounds in {path}")
    print(f"{'bf16 8192^3':<16} " + " ".join(f"{'round ' + str(i + 1):>9}" for i in range(len(ref)))
          + f" {'median':>9} {'of torch':>9}")
    ref_med = statistics.median(ref)
    for who, vals in table.items():
        med = statistics.median(vals)
        print(f"{who:<16} " + " ".join(f"{v:>9.1f}" for v in vals)
              + f" {med:>9.1f} {med / ref_med * 100:>8.1f}%")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=8192)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--copy-bytes", default="4G")
    p.add_argument("--compare", nargs=2, metavar=("COMPUTE_JSON", "TORCH_LOG"))
    p.add_argument("--matmul-only", action="store_true")
    p.add_argument("--rounds", metavar="ROUNDS_LOG")
    args = p.parse_args()
    if args.rounds:
        rounds(args.rounds)
    elif args.compare:
        compare(*args.compare)
    else:
        measure(args)


if __name__ == "__main__":
    main()
