"""Where OpenVINO's time goes on the BERT-base-shaped encoder of openvino_bert.py:
the CPU plugin's own per-node counters (PERF_COUNT), a layer's worth of nodes in
graph order and every kind of node summed, to set beside `octet bench --profile`.

  python openvino_bert_profile.py --threads 2 --seq 128 --batches 32 --variants int8

Per node: milliseconds per inference (the mean of the timed runs), the node's
type and the kernel OpenVINO picked (e.g. brgemm_avx512_I8), its name.
"""

import collections

import numpy as np
import openvino as ov

import openvino_bert  # beside this script
import peer_timing


def main():
    args = peer_timing.parse_arguments(__doc__, "int8")
    core = ov.Core()
    model = openvino_bert.bert_model()
    runs = 5
    for variant in args.variants.split(","):
        config = {"INFERENCE_NUM_THREADS": args.threads, "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": True}
        if variant == "int8":
            compiled = core.compile_model(openvino_bert.int8_model(model, args.seq), "CPU", config)
        else:
            config["INFERENCE_PRECISION_HINT"] = variant
            compiled = core.compile_model(model, "CPU", config)
        for batch in (int(b) for b in args.batches.split(",")):
            request = compiled.create_infer_request()
            ids = np.random.default_rng(2).integers(1000, 30000, (batch, args.seq), dtype=np.int64)
            for _ in range(2):
                request.infer({0: ids})
            per_node = collections.defaultdict(float)
            order, kinds = [], {}
            for _ in range(runs):
                request.infer({0: ids})
                for node in request.profiling_info:
                    if node.node_name not in kinds:
                        order.append(node.node_name)
                        kinds[node.node_name] = (node.node_type, node.exec_type)
                    per_node[node.node_name] += node.real_time.total_seconds() * 1000 / runs
            total = sum(per_node.values())
            print(f"OpenVINO {ov.__version__.split('-')[0]} {variant}, batch {batch} of {args.seq} tokens, "
                  f"{args.threads} threads: {total:.1f} ms per inference in nodes")
            # A layer's worth: the nodes after the second MVN (LayerNorm: the first layer's
            # attention norm) up to the fourth (the second layer's), the FFN of one layer
            # and the attention of the next.
            mvns = [i for i, name in enumerate(order) if kinds[name][0] == "MVN"]
            if len(mvns) >= 4:
                print("a layer's worth of nodes (one layer's FFN, the next one's attention):")
                for name in order[mvns[1] + 1:mvns[3] + 1]:
                    if per_node[name] >= 0.01:
                        print(f"  {per_node[name]:8.2f} ms  {kinds[name][0]:30s} {kinds[name][1]:24s} {name[:50]}")
            print("every node, by kind:")
            by_kind = collections.defaultdict(lambda: [0.0, 0])
            for name in order:
                by_kind[kinds[name]][0] += per_node[name]
                by_kind[kinds[name]][1] += 1
            for (node_type, exec_type), (ms, count) in sorted(by_kind.items(), key=lambda kv: -kv[1][0]):
                if ms >= 0.1:
                    print(f"  {ms:8.2f} ms  {count:3d} nodes  {node_type:30s} {exec_type}")


if __name__ == "__main__":
    main()
