"""Steady bf16 GEMM load for the monitor's acceptance run: C = A x B (8192^3) back to back on one
GPU for a fixed time, the queue kept full (the host waits on the event of the batch before the one
it just issued). Prints one JSON line: matmuls done, the timed window (Unix seconds, to select
the monitor's rows) and the rate in TFLOP/s (2*n^3 per product over the host time of the window,
the GPU synchronised at both ends)."""
import argparse
import json
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--seconds", type=float, default=60)
p.add_argument("--n", type=int, default=8192)
p.add_argument("--batch", type=int, default=20)
p.add_argument("--label", default="")
args = p.parse_args()

n = args.n
torch.manual_seed(0)
dev = torch.device("cuda")
# Two input sets, each 2 x 128 MiB, larger than the 60 MB L2: products read HBM, not the cache.
a = [torch.randn(n, n, device=dev, dtype=torch.bfloat16) for _ in range(2)]
b = [torch.randn(n, n, device=dev, dtype=torch.bfloat16) for _ in range(2)]
c = torch.empty(n, n, device=dev, dtype=torch.bfloat16)


def issue(k):
    for i in range(k):
        torch.matmul(a[i % 2], b[i % 2], out=c)
    e = torch.cuda.Event()
    e.record()
    return e


# Warm-up: handle creation, kernel selection, clocks up.
t_end = time.perf_counter() + 3
while time.perf_counter() < t_end:
    issue(args.batch).synchronize()

torch.cuda.synchronize()
wall0 = time.time()
t0 = time.perf_counter()
done = 0
pending = issue(args.batch)
while True:
    nxt = issue(args.batch)
    pending.synchronize()
    done += args.batch
    pending = nxt
    if time.perf_counter() - t0 >= args.seconds:
        break
pending.synchronize()
done += args.batch
torch.cuda.synchronize()
t1 = time.perf_counter()
wall1 = time.time()

# Correctness spot check: one product against a float32 reference on a 256x256 block.
ref = a[1][:256].float() @ b[1][:, :256].float()
got = c[:256, :256].float()
rel = float((got - ref).norm() / ref.norm())
elapsed = t1 - t0
print(json.dumps({
    "label": args.label,
    "n": n,
    "matmuls": done,
    "seconds": elapsed,
    "window_start_unix": wall0,
    "window_end_unix": wall1,
    "tflops": 2.0 * n ** 3 * done / elapsed / 1e12,
    "rel_err_vs_fp32": rel,
    "device": torch.cuda.get_device_name(0),
}), flush=True)
if not (rel < 1e-2):
    raise SystemExit(f"bf16 GEMM check failed: relative error {rel}")
