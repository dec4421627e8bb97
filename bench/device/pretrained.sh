#!/usr/bin/env bash
# On the GPU machine, with the binary carried in .dev/ (as verify.sh): a small Llama trained
# briefly in PyTorch and saved as a Hugging Face directory in bf16 (pretrained_loss.py), its
# sequence packed by `sxbench data pack`, then `sxbench train --device cuda --init pretrained`
# on it. The engine's first-step loss must equal PyTorch's loss of the saved weights (bf16
# activations) within 1e-2, and fall afterwards. Logs under $OUT.
set -uo pipefail
export NCCL_NVLS_ENABLE=0
OUT=${OUT:-/tmp/sxb-out}
mkdir -p "$OUT" .dev/lib
source bench/device/carried_libs.sh
BIN=$PWD/.dev/sxbench
D=/tmp/sxb_pretrained
rm -rf "$D"
timeout 120 python3 bench/device/pretrained_loss.py "$D" | tee "$OUT/pretrained_torch.txt"
"$BIN" data pack --in "$D/sft.jsonl" --out "$D/sft.bin" --seq-len 256 | tee "$OUT/pretrained_pack.txt"
timeout 120 "$BIN" train --device cuda --model "$D" --init pretrained --data "$D/sft.bin" \
  --seq-len 256 --micro-batch 1 --steps 6 --ds-config bench/device/ds_config_pretrained.json \
  --out "$D/run" >"$OUT/pretrained_train.txt" 2>&1
echo "sxbench train --init pretrained exit $?"
grep -E "^weights:|^step " "$OUT/pretrained_train.txt"
python3 - "$OUT/pretrained_torch.txt" "$OUT/pretrained_train.txt" <<'PY'
import re, sys
torch_line = [l for l in open(sys.argv[1]) if l.startswith("RESULT")][0]
ref = float(re.search(r"loss_bf16=([0-9.]+)", torch_line).group(1))
steps = [float(m.group(1)) for m in re.finditer(r"^step \d+/\d+ loss ([0-9.]+)", open(sys.argv[2]).read(), re.M)]
if not steps:
    sys.exit("no step lines from sxbench train")
diff = steps[0] - ref
print(f"first-step loss: engine {steps[0]:.6f}, PyTorch {ref:.6f}, difference {diff:+.6f} "
      f"({'within' if abs(diff) <= 1e-2 else 'OUTSIDE'} 1e-2); then {' '.join(f'{s:.4f}' for s in steps[1:])}")
PY
