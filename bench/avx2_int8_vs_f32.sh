#!/usr/bin/env bash
# int8 against f32 where the CPU has AVX2 and no AVX-512 (issue 22: without
# VNNI int8 must be at least as fast as f32 for prompts and encoders). ISA
# picks the CPU class, built into build-ISA by bench/isa_build.sh:
#   avx2 (default): AVX2 without VNNI (AMD Zen 1-3, Intel before Ice Lake).
#     f32 on oneDNN's AVX2 sgemm; oneDNN has no int8 brgemm there, so int8
#     products run on octet's own kernels.
#   avx-vnni: AVX2 with VNNI in 256 bits (Intel's client CPUs from Alder
#     Lake). oneDNN 2.6 has no int8 brgemm there either: octet's panels
#     kernels run, in 256 bits.
# The machine line names the int8 kernel. On a CPU of that class this is
# simply what runs; on a newer CPU it is the same code on that CPU's cores
# (its ports and caches), so say which CPU a result is from. One `octet bench
# --quant f32,int8` per model: BERT-base at batch 1 and 32, the 110M Llama
# shape's prefill of 512 tokens, and its batched decode of 16 sequences.
# Writes OUT (bench/results/<ISA>_int8_vs_f32.json by default; name the CPU
# in it when keeping results) and prints int8 / f32 for each row.
#   [ISA=avx2|avx-vnni] bench/avx2_int8_vs_f32.sh [THREADS [OUT]]      (2 threads by default)
set -euo pipefail
cd "$(dirname "$0")/.."
isa=${ISA:-avx2}
threads=${1:-2}
out=${2:-bench/results/${isa//-/_}_int8_vs_f32.json}
. bench/isa_build.sh
isa_build "$isa"
mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {  # name, then octet bench arguments
  local name=$1
  shift
  echo "== $name" >&2
  ONEDNN_MAX_CPU_ISA=$dnnl_isa "$build"/octet bench "$@" --quant f32,int8 -t "$threads" -o json > "$tmp/$name.json"
}
run bert-base -m synthetic:bert-base -p 128 -b 1,32 -r 3
run llama-110m-prefill -m synthetic:llama-110m -p 512 -n 16 -b 1 -r 3
run llama-110m-batched -m synthetic:llama-110m -p 64 -n 32 -b 16 -r 2
python3 - "$out" "$tmp"/bert-base.json "$tmp"/llama-110m-prefill.json "$tmp"/llama-110m-batched.json <<'PY'
import json, sys
runs = [json.load(open(f)) for f in sys.argv[2:]]
json.dump({"runs": runs}, open(sys.argv[1], "w"), indent=1)
print(runs[0]["header"]["machine"], "|", runs[0]["header"]["build"])
for run in runs:
    rows = {(r["quant"], r["batch"]): r for r in run["results"]}
    for batch in sorted({r["batch"] for r in run["results"]}):
        f32, int8 = rows[("f32", batch)], rows[("int8", batch)]
        # Encoders report sentences/s (sent); decoders prefill (pp) and decode (tg) tokens/s.
        keys = [k for k in ("sent_s_mean", "pp_tok_s_mean", "tg_tok_s_mean") if k in f32]
        ratios = ", ".join(f"{k.split('_')[0]} {int8[k]:.1f} / {f32[k]:.1f} = {int8[k] / f32[k]:.2f}x" for k in keys)
        print(f"{run['header']['model']}, batch {batch}: int8 / f32 {ratios}")
PY
