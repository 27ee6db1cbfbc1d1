#!/usr/bin/env bash
# octet int8 against OpenVINO int8 (NNCF, static activations) on the
# BERT-base shape, taking turns: OpenVINO times a batch (its quantized model
# made once, in one process), then octet times the same batch, ROUNDS times
# over. bert_peers.sh runs each engine once, minutes apart, on hosts whose
# speed drifts by 10-25% over minutes; here each round's pair ran back to
# back, so each pair's ratio is the comparison. Prints every pair, the
# pairs' ratios and their median, with the CPU model; writes the raw results
# to OUT (JSON lines).
#   bench/peers/bert_head_to_head.sh [ROUNDS [BATCHES [THREADS [OUT]]]]
#   (4 rounds, batches 1,32, 2 threads, bench/results/peers_bert_head_to_head.jsonl)
#   OCTET=/path/to/octet bench/peers/bert_head_to_head.sh  (another build of octet)
# Needs pip (PyPI) for OpenVINO and NNCF, installed into build/peers-venv (bert_venv.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-4}
batches=${2:-1,32}
threads=${3:-2}
out=${4:-bench/results/peers_bert_head_to_head.jsonl}
. bench/peers/bert_venv.sh
mkdir -p "$(dirname "$out")"
octet="${OCTET:-build/octet}"
# BATCH: set by openvino_bert.py to the batch it has just timed.
between="\"$octet\" bench -m synthetic:bert-base --quant int8 -p 128 -b \$BATCH -t $threads -r 5 -o json |
  python3 bench/peers/octet_bert_json.py"
# (NNCF draws progress bars on stdout: only the JSON lines are kept.)
"$venv/bin/python" bench/peers/openvino_bert.py --threads "$threads" --seq 128 --batches "$batches" --variants int8 \
  --seconds 10 --rounds "$rounds" --between "$between" 2>/dev/null | grep '^{' > "$out"
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
octet = [r for r in rows if r["engine"].startswith("octet")]
peer = [r for r in rows if not r["engine"].startswith("octet")]
print(octet[0]["machine"], "|", octet[0]["engine"], "|", peer[0]["engine"], "int8")
print("| round | batch | octet int8 | OpenVINO int8 | octet / OpenVINO |")
print("|---|---|---|---|---|")
ratios = {}
for i, (p, o) in enumerate(zip(peer, octet)):
    ratio = o["sent_s"] / p["sent_s"]
    ratios.setdefault(o["batch"], []).append(ratio)
    print(f"| {i // len(set(r['batch'] for r in peer)) + 1} | {o['batch']} | {o['sent_s']:.1f} | {p['sent_s']:.1f} | {ratio:.2f}x |")
for batch, values in ratios.items():
    print(f"batch {batch}: median octet / OpenVINO {statistics.median(values):.2f}x over {len(values)} pairs "
          f"({min(values):.2f}x-{max(values):.2f}x)")
PY
