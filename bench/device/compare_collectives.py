# Prints sxbench's collective figures next to torch.distributed's from the same call:
# small-message latency and large-message bus bandwidth per operation.
import json, sys
nccl = json.load(open(sys.argv[1]))
torch_rows = []
for line in open(sys.argv[2]):
    if line.startswith("RESULT "):
        torch_rows = json.loads(line[7:])
print(f"world {nccl['world_size']}  {nccl['library_version']}  status {nccl['status']}")
print(f"{'op':15s} {'size':>12s} {'sxb us':>9s} {'sxb busbw':>10s} {'torch us':>9s} {'torch busbw':>11s} {'#wrong':>6s}")
def torch_at(op, size):
    for r in torch_rows:
        if r["op"] == op and r["bytes"] == size:
            return r
for s in nccl["summary"]:
    rows = [r for r in nccl["rows"] if r["op"] == s["op"]]
    for r in (rows[0], rows[-1]):
        t = torch_at(r["op"], r["size_bytes"])
        m = r["out_of_place"]
        print(f"{r['op']:15s} {r['size_bytes']:12d} {m['time_us']:9.2f} {m['busbw_gb_per_s']:10.2f} "
              f"{(t['time_us'] if t else float('nan')):9.2f} {(t['busbw_GBps'] if t else float('nan')):11.2f} {s['wrong']:6d}")
