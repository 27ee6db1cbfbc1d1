#!/usr/bin/env bash
# octet against llama.cpp on the same GGUF file, in one run on this CPU
# (issue 22): llama.cpp's llama-bench and `octet bench` read the same file,
# prompt processing (pp) and generation (tg) on THREADS threads each. Prints
# one table with the CPU model and octet's ratio to llama.cpp; writes the raw
# results to OUT (JSON lines).
#   [QUANT=f32] bench/peers/llama_cpp.sh [GGUF [THREADS [OUT]]]
#   [MODEL=llama-1.1b] bench/peers/llama_cpp.sh "" [THREADS [OUT]]
# Without a file, a model twice: as Q8_0 (llama.cpp's 8-bit format; octet runs
# it as int8) and as F32 (octet runs it as f32), both made by llama-quantize:
# MODEL=smollm2 (the default) from SmolLM2-135M-Instruct's GGUF in ../shared;
# MODEL=llama-1.1b from an F32 file of the TinyLlama-1.1B shape with random
# weights and the Llama 2 tokenizer from ../shared (make_llama_1b_gguf.py,
# run once with gguf and sentencepiece from pip in build/peers-venv).
# llama.cpp is built once from the llama-cpp-python sdist, which vendors it
# (pip download: PyPI), into build/peers-llama.cpp. Nothing in the build or
# the tests depends on this script.
# ISA=avx2 or ISA=avx-vnni compares both engines as built for that older CPU
# class, on this CPU's cores: octet from build-ISA (bench/isa_build.sh, oneDNN
# capped likewise), llama.cpp built without -march=native for the class into
# build/peers-llama.cpp-ISA (the GGUF files stay in build/peers-llama.cpp).
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${OCTET_SHARED_DIR:-../shared}
threads=${2:-2}
out=${3:-bench/results/peers_llama_cpp.jsonl}
octet=${OCTET:-build/octet}
files=build/peers-llama.cpp  # the GGUF files, whichever build makes them
lcp=$files                   # llama.cpp's binaries
ggml_isa=(-DGGML_NATIVE=ON)
if [ -n "${ISA:-}" ]; then
  . bench/isa_build.sh
  isa_build "$ISA"
  octet=${OCTET:-$build/octet}
  export ONEDNN_MAX_CPU_ISA=$dnnl_isa
  lcp=$files-$ISA
  # Off the host's own ISA: AVX, AVX2, FMA, F16C and BMI2, no AVX-512.
  ggml_isa=(-DGGML_NATIVE=OFF)
  [ "$ISA" = avx-vnni ] && ggml_isa+=(-DGGML_AVX_VNNI=ON)
fi
pp=128
tg=64

if [ ! -x "$lcp/llama-bench" ] || [ ! -x "$lcp/llama-quantize" ]; then
  echo "building llama.cpp (llama-bench, llama-quantize) from the llama-cpp-python sdist..." >&2
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --no-binary :all: llama-cpp-python -d "$tmp"
  tar -xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$tmp"
  src=$(echo "$tmp"/llama_cpp_python-*/vendor/llama.cpp)
  mkdir -p "$lcp"
  echo "(its compiler output: $lcp/build.log)" >&2
  cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
    "${ggml_isa[@]}" >"$lcp/build.log" 2>&1
  cmake --build "$tmp/build" --target llama-bench llama-quantize -j"$(nproc)" >>"$lcp/build.log" 2>&1
  cp "$tmp/build/bin/llama-bench" "$tmp/build/bin/llama-quantize" "$lcp/"
  "$lcp/llama-bench" --version 2>&1 | head -1 > "$lcp/VERSION" || true
  rm -rf "$tmp"
fi

# Each pair: a GGUF file and the scheme octet runs it with. Given a file,
# that file with int8 (QUANT= another scheme); by default SmolLM2 twice: Q8_0
# (octet int8) and F32 (octet f32), both requantized by llama-quantize.
mkdir -p "$files"
pairs=()
if [ -n "${1:-}" ]; then
  pairs=("$1:${QUANT:-int8}")
else
  case "${MODEL:-smollm2}" in
    smollm2)
      name=SmolLM2-135M-Instruct
      source="$shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
      [ -f "$source" ] || { echo "no GGUF given and $source is absent" >&2; exit 1; }
      ;;
    llama-1.1b)
      name=llama-1.1b
      source="$files/llama-1.1b.source.F32.gguf"
      if [ ! -f "$source" ]; then
        tokenizer="$shared/models/llama2_tokenizer/tokenizer.model"
        [ -f "$tokenizer" ] || { echo "MODEL=llama-1.1b needs $tokenizer" >&2; exit 1; }
        venv=build/peers-venv
        if ! "$venv/bin/python" -c "import gguf, sentencepiece, numpy" 2>/dev/null; then
          echo "installing gguf, sentencepiece and numpy into $venv (pip)..." >&2
          python3 -m venv "$venv"
          "$venv/bin/pip" install -q gguf sentencepiece numpy
        fi
        echo "writing the 1.1B-shaped F32 file $source (4.4 GB)..." >&2
        "$venv/bin/python" bench/peers/make_llama_1b_gguf.py "$tokenizer" "$source"
      fi
      ;;
    *)
      echo "MODEL must be smollm2 or llama-1.1b" >&2
      exit 1
      ;;
  esac
  for type in Q8_0:int8 F32:f32; do
    file="$files/$name.${type%%:*}.gguf"
    [ -f "$file" ] || "$lcp/llama-quantize" --allow-requantize "$source" "$file" "${type%%:*}" >/dev/null 2>&1
    pairs+=("$file:${type##*:}")
  done
fi

# llama.cpp's AMX path for Q8_0 crashed in ggml_backend_amx_mul_mat on a
# Sapphire Rapids host (issue 22): weights are not repacked for it there.
repack=()
if grep -q amx_int8 /proc/cpuinfo && "$lcp/llama-bench" --help 2>&1 | grep -q -- "--repack <0|1>"; then
  repack=(--repack 0)
fi
mkdir -p "$(dirname "$out")"
: > "$out"
for pair in "${pairs[@]}"; do
  model=${pair%:*} quant=${pair##*:}
  "$lcp/llama-bench" -m "$model" -p "$pp" -n "$tg" -t "$threads" -r 3 "${repack[@]}" -o jsonl 2>/dev/null |
    PAIR="$model" python3 -c '
import json, os, sys
for line in sys.stdin:
    r = json.loads(line)
    test = "pp" if r["n_prompt"] > 0 else "tg"
    print(json.dumps({"pair": os.environ["PAIR"], "engine": "llama.cpp " + r.get("build_commit", ""),
                      "variant": r.get("model_type", ""), "test": test, "tokens": r["n_prompt"] or r["n_gen"],
                      "threads": r["n_threads"], "tok_s": round(r["avg_ts"], 2), "cpu": r.get("cpu_info", "")}))' >> "$out"
  "$octet" bench -m "$model" --quant "$quant" -p "$pp" -n "$tg" -t "$threads" -r 3 -o json 2>/dev/null |
    PAIR="$model" python3 -c '
import json, os, sys
run = json.load(sys.stdin)
for r in run["results"]:
    for test, tokens, key in (("pp", r["pp_tokens"], "pp_tok_s_mean"), ("tg", r["tg_tokens"], "tg_tok_s_mean")):
        print(json.dumps({"pair": os.environ["PAIR"], "engine": "octet " + run["header"]["build"],
                          "variant": r["quant"], "test": test, "tokens": tokens, "threads": r["threads"],
                          "tok_s": round(r[key], 2), "cpu": run["header"]["machine"]}))' >> "$out"
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
octet = {(r["pair"], r["test"]): r for r in rows if r["engine"].startswith("octet")}
print(next(r["cpu"] for r in rows if r["engine"].startswith("octet")))
print("| file | engine | variant | test | tokens/s | octet / this |")
print("|---|---|---|---|---|---|")
for r in rows:
    mine = octet.get((r["pair"], r["test"]))
    print(f"| {r['pair'].split('/')[-1]} | {r['engine'].split(',')[0]} | {r['variant']} | {r['test']}{r['tokens']} | "
          f"{r['tok_s']:.1f} | {mine['tok_s'] / r['tok_s']:.2f}x |")
PY
