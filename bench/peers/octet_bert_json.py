"""`octet bench -o json` on stdin to the BERT peer scripts' JSON lines on stdout:
one per (quant, batch) with sentences/s, as the peers' scripts print theirs."""

import json
import sys

run = json.load(sys.stdin)
for r in run["results"]:
    print(json.dumps({"engine": "octet " + run["header"]["build"], "variant": r["quant"], "batch": r["batch"],
                      "seq": r["seq_len"], "threads": r["threads"], "sent_s": round(r["sent_s_mean"], 2),
                      "machine": run["header"]["machine"]}), flush=True)
