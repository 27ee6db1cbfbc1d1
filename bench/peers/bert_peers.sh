#!/usr/bin/env bash
# octet against OpenVINO and ONNX Runtime on a BERT-base-shaped encoder (issue
# 22), in one run on this CPU: octet `bench -m synthetic:bert-base` (f32, int8),
# openvino_bert.py (f32, bf16, NNCF int8) and onnxruntime_bert.py (f32, dynamic
# int8), the same shapes, sentences of 128 tokens, batches 1 and 32, THREADS
# threads each. Prints one table with the CPU model and octet int8's ratio to
# each peer variant; writes the raw results to OUT (JSON lines).
#   bench/peers/bert_peers.sh [THREADS [OUT]]   (2 threads; bench/results/peers_bert.jsonl)
#   OCTET=/path/to/octet bench/peers/bert_peers.sh  (another build of octet, e.g. an older commit's)
# Needs pip (PyPI) for the peers' packages, installed into build/peers-venv;
# nothing in the build or the tests depends on this script.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-2}
out=${2:-bench/results/peers_bert.jsonl}
. bench/peers/bert_venv.sh
mkdir -p "$(dirname "$out")"
"${OCTET:-build/octet}" bench -m synthetic:bert-base --quant f32,int8 -p 128 -b 1,32 -t "$threads" -r 5 -o json |
  python3 bench/peers/octet_bert_json.py > "$out"
# (NNCF draws progress bars on stdout: only the JSON lines are kept.)
"$venv/bin/python" bench/peers/openvino_bert.py --threads "$threads" --seq 128 --batches 1,32 --seconds 10 \
  2>/dev/null | grep '^{' >> "$out"
"$venv/bin/python" bench/peers/onnxruntime_bert.py --threads "$threads" --seq 128 --batches 1,32 --seconds 10 \
  2>/dev/null | grep '^{' >> "$out"
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
octet = {(r["variant"], r["batch"]): r for r in rows if r["engine"].startswith("octet")}
print(next(r["machine"] for r in rows if "machine" in r), "|", next(r["engine"] for r in rows if r["engine"].startswith("octet")))
print("| engine | variant | batch | sentences/s | octet int8 / this |")
print("|---|---|---|---|---|")
for r in rows:
    mine = octet.get(("int8", r["batch"]))
    ratio = f"{mine['sent_s'] / r['sent_s']:.2f}x" if mine else ""
    print(f"| {r['engine'].split(',')[0]} | {r['variant']} | {r['batch']} | {r['sent_s']:.1f} | {ratio} |")
PY
