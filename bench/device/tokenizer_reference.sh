#!/usr/bin/env bash
# On the GPU machine (whose Python has the `tokenizers` package): the byte-level BPE fixtures'
# reference ids from `tokenizers` itself (tests/fixtures/tokenizer/make_reference.py), copied
# under $OUT/tokenizer/ to be committed, and compared with the ids of the independent Python
# implementation (cross_check.py) already committed.
set -uo pipefail
OUT=${OUT:-/tmp/sxb-out}
F=tests/fixtures/tokenizer
python3 -c "import tokenizers; print('tokenizers', tokenizers.__version__)"
python3 $F/make_reference.py || exit 1
mkdir -p "$OUT/tokenizer/llama3" "$OUT/tokenizer/gpt2"
cp $F/llama3/reference_ids.txt $F/llama3/chat_reference_ids.txt "$OUT/tokenizer/llama3/"
cp $F/gpt2/reference_ids.txt "$OUT/tokenizer/gpt2/"
for f in llama3/reference_ids llama3/chat_reference_ids gpt2/reference_ids; do
  c=${f/reference_ids/cross_check_ids}
  if cmp -s $F/$f.txt $F/$c.txt; then echo "tokenizers = cross_check: $f"; else echo "DIFFERENT: $f"; fi
done
