"""Reads the monitor's CSV and summary of the 60 s load run plus the load's own results, and
prints the acceptance table: utilisation during the load, energy counter vs integral of power,
and load throughput with vs without the monitor."""
import csv
import json
import statistics
import sys
from datetime import datetime

run_dir, loads_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
loads = [json.loads(l) for l in open(loads_path) if l.startswith("{")]
main = next((l for l in loads if l["label"] == "M60"), None)
summary = json.load(open(f"{run_dir}/gpu_metrics_summary.json")) if main else {"gpus": []}
rows = list(csv.DictReader(open(f"{run_dir}/gpu_metrics.csv"))) if main else []


def ts(r):
    return datetime.fromisoformat(r["timestamp_utc"].replace("Z", "+00:00")).timestamp()


def f(r, k):
    return float(r[k]) if r[k] != "" else None


res = {"gpus": []}
for g in summary["gpus"]:
    gr = [r for r in rows if r["gpu_index"] == str(g["index"])]
    # The load window, less its first second (clocks and NVML's utilisation window settle).
    w = [r for r in gr if main["window_start_unix"] + 1.0 <= ts(r) <= main["window_end_unix"]]
    util = [f(r, "gpu_util_pct") for r in w if f(r, "gpu_util_pct") is not None]
    sm = [f(r, "gpm_sm_activity_pct") for r in w if f(r, "gpm_sm_activity_pct") is not None]
    tensor = [f(r, "gpm_tensor_activity_pct") for r in w if f(r, "gpm_tensor_activity_pct") is not None]
    dram = [f(r, "gpm_dram_bw_util_pct") for r in w if f(r, "gpm_dram_bw_util_pct") is not None]
    power = [f(r, "power_w") for r in w if f(r, "power_w") is not None]
    # Energy over the load window from the window's own rows.
    e0, e1 = f(w[0], "energy_j"), f(w[-1], "energy_j")
    integ = 0.0
    for a, b in zip(w, w[1:]):
        integ += 0.5 * (f(a, "power_w") + f(b, "power_w")) * (float(b["elapsed_s"]) - float(a["elapsed_s"]))
    integ_inst = 0.0
    if all(f(r, "power_instant_w") is not None for r in w):
        for a, b in zip(w, w[1:]):
            integ_inst += 0.5 * (f(a, "power_instant_w") + f(b, "power_instant_w")) * (
                float(b["elapsed_s"]) - float(a["elapsed_s"]))
    else:
        integ_inst = None
    res["gpus"].append({
        "index": g["index"], "name": g["name"], "window_samples": len(w),
        "util_mean_pct": statistics.mean(util), "util_min_pct": min(util),
        "util_share_ge_95": sum(u >= 95 for u in util) / len(util),
        "gpm_sm_activity_mean_pct": statistics.mean(sm) if sm else None,
        "gpm_tensor_activity_mean_pct": statistics.mean(tensor) if tensor else None,
        "gpm_dram_bw_util_mean_pct": statistics.mean(dram) if dram else None,
        "power_mean_w": statistics.mean(power),
        "window_energy_counter_j": e1 - e0, "window_power_integral_j": integ,
        "window_integral_vs_counter_pct": 100 * (integ - (e1 - e0)) / (e1 - e0),
        "window_instant_power_integral_j": integ_inst,
        "run_energy_counter_j": g["energy"]["counter_j"],
        "run_power_integral_j": g["energy"]["power_integral_j"],
        "run_integral_vs_counter_pct": g["energy"]["integral_vs_counter_pct"],
        "throttled_share": g["throttle"]["throttled_share"],
        "reason_share": g["throttle"]["reason_share"],
        "max_temperature_c": g["temperature_c"]["max"],
    })

base = [l["tflops"] for l in loads if l["label"].startswith("B")]
mon = [l["tflops"] for l in loads if l["label"].startswith("M") and l["label"] != "M60"]
res["loads"] = loads
res["overhead"] = {
    "without_monitor_tflops": base, "with_monitor_tflops": mon,
    "without_mean": statistics.mean(base), "with_mean": statistics.mean(mon),
    "slowdown_pct": 100 * (statistics.mean(base) - statistics.mean(mon)) / statistics.mean(base),
    "spread_without_pct": 100 * (max(base) - min(base)) / statistics.mean(base),
    "spread_with_pct": 100 * (max(mon) - min(mon)) / statistics.mean(mon),
}
json.dump(res, open(out_path, "w"), indent=1)

print("\n=== monitor acceptance (one GPU) ===")
for g in res["gpus"]:
    print(f"GPU {g['index']} {g['name']}: {g['window_samples']} samples in the load window")
    print(f"  utilisation mean {g['util_mean_pct']:.2f}%  min {g['util_min_pct']:.0f}%  "
          f"share>=95% {g['util_share_ge_95']:.3f}")
    print(f"  GPM sm_activity {g['gpm_sm_activity_mean_pct']}  tensor {g['gpm_tensor_activity_mean_pct']}  "
          f"dram {g['gpm_dram_bw_util_mean_pct']}")
    print(f"  power mean {g['power_mean_w']:.1f} W  max temp {g['max_temperature_c']} C  "
          f"throttled share {g['throttled_share']} {g['reason_share']}")
    print(f"  energy whole run: counter {g['run_energy_counter_j']:.1f} J  integral "
          f"{g['run_power_integral_j']:.1f} J  diff {g['run_integral_vs_counter_pct']:+.2f}%")
    print(f"  energy load window: counter {g['window_energy_counter_j']:.1f} J  integral "
          f"{g['window_power_integral_j']:.1f} J  diff {g['window_integral_vs_counter_pct']:+.2f}%  "
          f"(instant-power integral {g['window_instant_power_integral_j']})")
o = res["overhead"]
print("load TFLOP/s in run order:", [(l["label"], round(l["tflops"], 2)) for l in loads])
print(f"without monitor {o['without_mean']:.2f} (spread {o['spread_without_pct']:.2f}%)  "
      f"with monitor @100ms {o['with_mean']:.2f} (spread {o['spread_with_pct']:.2f}%)  "
      f"slowdown {o['slowdown_pct']:+.3f}%")
