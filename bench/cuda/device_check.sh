#!/usr/bin/env bash
# Runs on the GPU machine (one `device` call), from the repository root, after
# bench/cuda/bundle.sh made .device/ here and the call carried it:
#   1. the CUDA tests, then the same under compute-sanitizer memcheck and racecheck;
#   2. FP8 against bf16 matmul TFLOP/s on Llama-7B shapes (octet bench --matmul);
#   3. decode and prefill tokens/s for stories260K and random-weight Llama models;
#   4. the device's copy bandwidth (PyTorch, which that machine has), the
#      ceiling for the GB/s of weights read per decoded token.
#   5. llama-1.1b again with CUDA graphs off (OCTET_CUDA_GRAPHS=0), for the ratio;
#   6. stories260K perplexity on the GPU (bf16) and what FP8 costs there.
#   7. the host CPU's int8 path: where that CPU has VNNI (this project's own
#      machines have none), the oneDNN brgemm tests run for real, and int8
#      against f32 on the CPU backend is timed on brgemm.
#   8. where a decode step's time goes: Nsight Compute's duration and bytes
#      read of NCU_COUNT kernels after the first NCU_SKIP (eager launches,
#      fp8, synthetic:$NCU_MODEL, default llama-7b: two layers of a decode step).
#   9. --gpu-layers: synthetic:$SPLIT_MODEL (default llama-1.1b) with its first
#      SPLIT_LAYERS (default 11) blocks on the GPU and the rest on the host CPU,
#      beside the same model all on the GPU, in one bench run each; then the
#      split with FP8 on the GPU and int8 on the CPU (--cpu-quant int8).
#  10. encoders on the GPU: synthetic:bert-base sentences/s (bf16 and fp8, batch
#      1 and 32), and the shipped sst2-mini classifier's SST-2 dev accuracy there.
#  11. the FP8 KV cache: synthetic:$KV_MODEL (default llama-1.1b) fp8 with a
#      float and an FP8 cache over a long context (-p 2048, batch 1 and 16), and
#      stories260K perplexity on the GPU with the FP8 cache, alone and with FP8
#      weights, against float.
#  12. cuBLASLt's FP8 fast accumulation (OCTET_FP8_FAST_ACCUM=1) against the
#      default, each pair in one step: matmul TFLOP/s at M = 256 and 4096,
#      prefill and decode of synthetic:$FAST_MODEL (default llama-7b), what it
#      costs in stories260K perplexity, and the CUDA matmul tests under it
#      (their float64 bound shows how far the sums drift).
#  13. where a prefill pass's time goes: Nsight Compute's duration of every
#      kernel of synthetic:${PREFILL_MODEL:-llama-1.1b} -p 512 (eager
#      launches; two prompt passes and four one-token steps), summed by
#      kernel, for bf16 and fp8.
# Results go to $OUT (or ./device-out) in at most 8 files (what the device
# tool brings back): summary.txt, errors.txt (every command's stderr),
# tests.txt, matmul.md, decoders.md, cpu_int8.md, ncu.txt, perplexity.json
# (steps 12 and 13 add to matmul.md, decoders.md, perplexity.json and ncu.txt);
# full sanitizer logs stay in /tmp/octet/logs. STEPS picks steps, e.g. STEPS="1 2";
# SANITIZERS=0 runs step 1's tests without compute-sanitizer;
# MODELS the synthetic models of step 3 (default llama-1.1b) and BATCHES their
# batch sizes (default 1; e.g. BATCHES=1,16).
set -uo pipefail
root=$PWD
out=${OUT:-$root/device-out}
logs=/tmp/octet/logs
mkdir -p "$out" "$logs"
tar -xJf .device/bundle.tar.xz -C /tmp/octet
export LD_LIBRARY_PATH=/tmp/octet/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}
export OCTET_SHARED_DIR=$root/.device/shared
# The tests find tests/data through the source path compiled into them.
[ -e /work/main ] || { mkdir -p /work && ln -s "$root" /work/main; }
octet=/tmp/octet/octet
tests=/tmp/octet/octet_tests
steps=${STEPS:-1 2 3 4 5 7}
log() { echo "== $*" | tee -a "$out/summary.txt"; }

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee -a "$out/summary.txt"
err=$out/errors.txt
for step in $steps; do
  case $step in
    1)
      log "CUDA tests"
      timeout 300 "$tests" --gtest_filter='*Cuda*' 2>&1 | tee "$out/tests.txt" | tail -n 25
      [ "${SANITIZERS:-1}" = 1 ] || continue
      log "compute-sanitizer memcheck"
      timeout 240 compute-sanitizer --tool memcheck --error-exitcode 9 "$tests" --gtest_filter='*Cuda*' \
        >"$logs/memcheck.txt" 2>&1
      echo "memcheck exit $?" | tee -a "$out/summary.txt"; tail -n 4 "$logs/memcheck.txt" | tee -a "$out/summary.txt"
      log "compute-sanitizer racecheck"
      # racecheck is slow: the kernels with shared memory, on small shapes.
      timeout 240 compute-sanitizer --tool racecheck --error-exitcode 9 "$tests" \
        --gtest_filter='CudaOps.*:*CudaAttentionTest*/0:*CudaAttentionTest*/1:*CudaMatmulTest.Fp8*/0:*CudaMatmulTest.Fp8*/1:*CudaMatmulTest.Fp8*/2' >"$logs/racecheck.txt" 2>&1
      echo "racecheck exit $?" | tee -a "$out/summary.txt"; tail -n 4 "$logs/racecheck.txt" | tee -a "$out/summary.txt"
      ;;
    2)
      log "matmul TFLOP/s"
      timeout 300 "$octet" bench --matmul 1,16,256,4096 --backend cuda --quant f32,fp8 -r 10 2>>"$err" |
        tee "$out/matmul.md"
      ;;
    3)
      log "stories260K"
      timeout 200 "$octet" bench -m "$OCTET_SHARED_DIR/models/stories260K/stories260K.bin" --backend cuda \
        --quant f32,fp8 -p 256 -n 128 -r 5 2>>"$err" | tee -a "$out/decoders.md"
      for model in ${MODELS:-llama-1.1b}; do
        log "synthetic:$model"
        timeout 400 "$octet" bench -m "synthetic:$model" --backend cuda --quant f32,fp8 -p 512 -n 128 -r 3 \
          -b "${BATCHES:-1}" \
          2>>"$err" | tee -a "$out/decoders.md"
      done
      ;;
    6)
      log "perplexity on the GPU: bf16 and fp8 against float (CPU)"
      timeout 300 "$octet" perplexity -m "$OCTET_SHARED_DIR/models/stories260K/stories260K.bin" \
        --tokenizer "$OCTET_SHARED_DIR/models/stories260K/tok512.model" \
        -f "$OCTET_SHARED_DIR/data/tinystories_val_head.txt" --ctx 512 --backend cuda --compare fp8 --json \
        2>>"$err" | tee "$out/perplexity.json"
      ;;
    5)
      log "synthetic:llama-1.1b without CUDA graphs"
      OCTET_CUDA_GRAPHS=0 timeout 300 "$octet" bench -m synthetic:llama-1.1b --backend cuda --quant f32,fp8 \
        -p 512 -n 128 -r 3 2>>"$err" | tee -a "$out/decoders.md"
      ;;
    7)
      log "host CPU int8: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
      timeout 300 "$tests" --gtest_filter='*MatmulInt8Dnnl*:*GemmInt8*:Executor.*' 2>&1 |
        grep -E "Failure|Expected|Which is|M = |fell back|FAILED|PASSED|tests ran" | head -n 40 | tee -a "$out/cpu_int8.md"
      echo "oneDNN primitives a short int8 run executes (ONEDNN_VERBOSE=1):" | tee -a "$out/cpu_int8.md"
      DNNL_VERBOSE=1 ONEDNN_VERBOSE=1 timeout 120 "$octet" bench -m synthetic:llama-110m --quant int8 -p 64 -n 4 -r 1 2>>"$err" |
        grep -E '^(onednn|dnnl)_verbose,exec' | cut -d, -f4-6 | sort | uniq -c | sort -rn | head -n 12 | tee -a "$out/cpu_int8.md"
      timeout 300 "$octet" bench -m synthetic:llama-110m --quant f32,int8 -p 512 -n 64 -r 3 2>>"$err" |
        tee -a "$out/cpu_int8.md"
      timeout 300 "$octet" bench -m synthetic:bert-base -p 128 -b 32 -r 3 --quant f32,int8 2>>"$err" |
        tee -a "$out/cpu_int8.md"
      ;;
    8)
      log "ncu: kernels of a decode step, synthetic:${NCU_MODEL:-llama-7b} fp8"
      OCTET_CUDA_GRAPHS=0 timeout 400 ncu --launch-skip "${NCU_SKIP:-3000}" --launch-count "${NCU_COUNT:-40}" \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum --print-units base --csv "$octet" bench -m "synthetic:${NCU_MODEL:-llama-7b}" \
        --backend cuda --quant fp8 -p 8 -n 16 -r 1 >"$logs/ncu.csv" 2>>"$err"
      python3 - "$logs/ncu.csv" <<'PY' | tee "$out/ncu.txt"
import csv, sys
rows = {}
for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"')):
    key = (int(r["ID"]), r["Kernel Name"].split("(")[0].split("<")[0][-40:])
    rows.setdefault(key, {})[r["Metric Name"]] = float(r["Metric Value"].replace(",", ""))
print(f"{'kernel':40} {'us':>8} {'MB read':>9} {'GB/s':>7}")
for (i, name), m in sorted(rows.items()):
    t = m.get("gpu__time_duration.sum", 0) / 1e3  # ns -> us
    b = m.get("dram__bytes_read.sum", 0) / 1e6    # bytes -> MB
    print(f"{name:40} {t:8.1f} {b:9.2f} {b / t * 1e3 if t else 0:7.0f}")
PY
      ;;
    9)
      split_model=synthetic:${SPLIT_MODEL:-llama-1.1b}
      log "$split_model: all on the GPU, then --gpu-layers ${SPLIT_LAYERS:-11}"
      for placement in "" "--gpu-layers ${SPLIT_LAYERS:-11}"; do
        # shellcheck disable=SC2086 # $placement is two words or none
        timeout 400 "$octet" bench -m "$split_model" --backend cuda $placement --quant f32,fp8 -p 128 -n 64 -r 3 \
          2>>"$err" | tee -a "$out/decoders.md"
      done
      timeout 400 "$octet" bench -m "$split_model" --backend cuda --gpu-layers "${SPLIT_LAYERS:-11}" --quant fp8 \
        --cpu-quant int8 -p 128 -n 64 -r 3 2>>"$err" | tee -a "$out/decoders.md"
      ;;
    10)
      log "encoders on the GPU: synthetic:bert-base"
      timeout 300 "$octet" bench -m synthetic:bert-base --backend cuda --quant f32,fp8 -p 128 -b 1,32 -r 3 \
        2>>"$err" | tee -a "$out/decoders.md"
      for quant in f32 fp8; do
        log "sst2-mini on SST-2 dev, cuda $quant"
        timeout 120 "$octet" classify -i "$OCTET_SHARED_DIR/data/sst2_dev.tsv" --backend cuda --quant "$quant" \
          -o /dev/null --summary-json "$logs/sst2_$quant.json" 2>>"$err"
        grep -o '"accuracy": *[0-9.]*' "$logs/sst2_$quant.json" | tee -a "$out/summary.txt"
      done
      ;;
    11)
      kv_model=synthetic:${KV_MODEL:-llama-1.1b}
      for cache in f32 fp8; do
        log "$kv_model fp8, --kv-cache $cache"
        timeout 400 "$octet" bench -m "$kv_model" --backend cuda --quant fp8 --kv-cache "$cache" -p 2048 -n 64 \
          -b 1,16 -r 3 2>>"$err" | tee -a "$out/decoders.md"
      done
      for quant in f32 fp8; do
        log "stories260K perplexity on the GPU, $quant weights with an FP8 cache, against bf16 with a float one"
        timeout 300 "$octet" perplexity -m "$OCTET_SHARED_DIR/models/stories260K/stories260K.bin" \
          --tokenizer "$OCTET_SHARED_DIR/models/stories260K/tok512.model" \
          -f "$OCTET_SHARED_DIR/data/tinystories_val_head.txt" --ctx 512 --backend cuda --compare "$quant" \
          --compare-kv-cache fp8 --json 2>>"$err" | tee -a "$out/perplexity.json"
      done
      ;;
    12)
      fast_model=synthetic:${FAST_MODEL:-llama-7b}
      for fast in 0 1; do
        log "OCTET_FP8_FAST_ACCUM=$fast: matmul TFLOP/s, $fast_model, stories260K perplexity"
        OCTET_FP8_FAST_ACCUM=$fast timeout 200 "$octet" bench --matmul 256,4096 --backend cuda --quant f32,fp8 \
          -r 10 2>>"$err" | tee -a "$out/matmul.md"
        OCTET_FP8_FAST_ACCUM=$fast timeout 400 "$octet" bench -m "$fast_model" --backend cuda --quant fp8 -p 512 \
          -n 32 -r 3 2>>"$err" | tee -a "$out/decoders.md"
        OCTET_FP8_FAST_ACCUM=$fast timeout 300 "$octet" perplexity \
          -m "$OCTET_SHARED_DIR/models/stories260K/stories260K.bin" \
          --tokenizer "$OCTET_SHARED_DIR/models/stories260K/tok512.model" \
          -f "$OCTET_SHARED_DIR/data/tinystories_val_head.txt" --ctx 512 --backend cuda --compare fp8 --json \
          2>>"$err" | tee -a "$out/perplexity.json"
      done
      log "CUDA matmul tests with OCTET_FP8_FAST_ACCUM=1"
      OCTET_FP8_FAST_ACCUM=1 timeout 200 "$tests" --gtest_filter='*CudaMatmulTest*:CudaBackend.Stories260K*' 2>&1 |
        grep -E "Failure|Expected|Which is|which is|FAILED|PASSED|tests ran" | head -n 40 | tee -a "$out/tests.txt"
      ;;
    13)
      prefill_model=synthetic:${PREFILL_MODEL:-llama-1.1b}
      for quant in f32 fp8; do
        log "ncu: every kernel of $prefill_model $quant -p 512, summed by kernel"
        OCTET_CUDA_GRAPHS=0 timeout 280 ncu --metrics gpu__time_duration.sum --print-units base --csv \
          "$octet" bench -m "$prefill_model" --backend cuda --quant "$quant" -p 512 -n 1 -r 1 \
          >"$logs/ncu_prefill_$quant.csv" 2>>"$err"
        python3 - "$logs/ncu_prefill_$quant.csv" <<'PY' | tee -a "$out/ncu.txt"
import csv, sys
total, count = {}, {}
for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"')):
    if r["Metric Name"] != "gpu__time_duration.sum":
        continue
    name = r["Kernel Name"].split("(")[0].split("<")[0][-48:]
    total[name] = total.get(name, 0.0) + float(r["Metric Value"].replace(",", "")) / 1e3  # ns -> us
    count[name] = count.get(name, 0) + 1
whole = sum(total.values())
print(f"{'kernel':48} {'calls':>6} {'us in all':>10} {'share':>6}")
for name in sorted(total, key=total.get, reverse=True):
    print(f"{name:48} {count[name]:6d} {total[name]:10.0f} {100 * total[name] / whole:5.1f}%")
print(f"{'all kernels':48} {sum(count.values()):6d} {whole:10.0f}")
PY
      done
      ;;
    4)
      log "copy bandwidth"
      python3 - <<'PY' 2>&1 | tee -a "$out/summary.txt"
import torch
x = torch.empty(2 << 30, dtype=torch.uint8, device="cuda"); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
torch.cuda.synchronize(); s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
s.record()
for _ in range(10): y.copy_(x)
e.record(); torch.cuda.synchronize(); t = s.elapsed_time(e) / 1e3 / 10
print(f"device-to-device copy of 2 GiB: {x.numel() / t / 1e9:.0f} GB/s read ({2 * x.numel() / t / 1e9:.0f} GB/s read+write)")
PY
      ;;
  esac
done
