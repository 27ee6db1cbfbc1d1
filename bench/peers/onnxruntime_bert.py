"""ONNX Runtime's CPU provider on a BERT-base-shaped encoder (issue 22's peer).

The same encoder as openvino_bert.py, written as an ONNX graph with random
weights of octet's `synthetic:bert-base` shapes (hidden 768, 12 layers, 12
heads, FFN 3072, vocabulary 30522, a 2-label classifier on the first token).
Two variants:
  f32   the float model as exported
  int8  onnxruntime.quantization.quantize_dynamic (int8 weights per channel,
        activations quantized per call), the int8 path ONNX Runtime documents
        for transformers on CPUs
Sentences of SEQ tokens, batches of 1 and 32, a fixed number of threads;
prints one JSON line per (variant, batch) with sentences/s.

  python onnxruntime_bert.py --threads 2 --seq 128 --batches 1,32 --seconds 10
"""

import json
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import peer_timing  # beside this script


def bert_model(layers=12, hidden=768, heads=12, ffn=3072, vocab=30522, labels=2, seed=0):
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(array):
        n = name("c")
        inits.append(numpy_helper.from_array(array, n))
        return n

    def weight(*shape, scale=0.02):
        return const(rng.normal(0.0, scale, shape).astype(np.float32))

    def op(kind, inputs, **attrs):
        out = name(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def layer_norm(x):
        scale = const((1.0 + rng.uniform(-0.1, 0.1, hidden)).astype(np.float32))
        return op("LayerNormalization", [x, scale, weight(hidden)], axis=-1, epsilon=1e-12)

    def linear(x, n_in, n_out):  # x @ W + b, W stored [n_in, n_out] as exporters write it
        return op("Add", [op("MatMul", [x, weight(n_in, n_out)]), weight(n_out)])

    def gelu(x):  # x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), as torch.onnx exports it
        half = op("Mul", [x, const(np.array(0.5, np.float32))])
        erf = op("Erf", [op("Div", [x, const(np.array(np.sqrt(2.0), np.float32))])])
        return op("Mul", [half, op("Add", [erf, const(np.array(1.0, np.float32))])])

    head_dim = hidden // heads
    split = const(np.array([0, 0, heads, head_dim], np.int64))
    merge = const(np.array([0, 0, hidden], np.int64))
    x = op("Gather", [weight(vocab, hidden), "input_ids"], axis=0)
    x = op("Add", [x, op("Gather", [weight(512, hidden), "position_ids"], axis=0)])
    x = op("Add", [x, weight(hidden)])  # token type 0's embedding
    x = layer_norm(x)
    for _ in range(layers):
        def project(perm):
            return op("Transpose", [op("Reshape", [linear(x, hidden, hidden), split])], perm=perm)
        q, k, v = project([0, 2, 1, 3]), project([0, 2, 3, 1]), project([0, 2, 1, 3])
        scores = op("Mul", [op("MatMul", [q, k]), const(np.array(1.0 / np.sqrt(head_dim), np.float32))])
        context = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), merge])
        x = layer_norm(op("Add", [x, linear(context, hidden, hidden)]))
        x = layer_norm(op("Add", [x, linear(gelu(linear(x, hidden, ffn)), ffn, hidden)]))
    first = op("Gather", [x, const(np.array(0, np.int64))], axis=1)
    pooled = op("Tanh", [linear(first, hidden, hidden)])
    logits = linear(pooled, hidden, labels)
    graph = helper.make_graph(
        nodes, "bert-base-random",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["seq"])],
        [helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["batch", labels])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def sentences_per_second(session, batch, seq, seconds):
    feeds = {"input_ids": np.random.default_rng(2).integers(1000, 30000, (batch, seq), dtype=np.int64),
             "position_ids": np.arange(seq, dtype=np.int64)}
    return peer_timing.sentences_per_second(lambda: session.run(None, feeds), batch, seconds)


def main():
    args = peer_timing.parse_arguments(__doc__, "f32,int8")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        f32_path, int8_path = os.path.join(tmp, "bert.onnx"), os.path.join(tmp, "bert-int8.onnx")
        onnx.save(bert_model(), f32_path, save_as_external_data=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        for variant in args.variants.split(","):
            if variant == "int8":
                quantize_dynamic(f32_path, int8_path, weight_type=QuantType.QInt8, per_channel=True,
                                 use_external_data_format=True)
                path = int8_path
            elif variant == "f32":
                path = f32_path
            else:
                raise SystemExit(f"unknown variant {variant!r}: f32 or int8")
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            for batch in (int(b) for b in args.batches.split(",")):
                rate = sentences_per_second(session, batch, args.seq, args.seconds)
                print(json.dumps({"engine": f"ONNX Runtime {ort.__version__}", "variant": variant, "batch": batch,
                                  "seq": args.seq, "threads": args.threads, "sent_s": round(rate, 2)}),
                      flush=True)


if __name__ == "__main__":
    main()
