"""OpenVINO's CPU plugin on a BERT-base-shaped encoder (issue 22's peer).

The encoder is built from OpenVINO's own ops with random weights of the shapes
octet's `synthetic:bert-base` has (hidden 768, 12 layers, 12 heads, FFN 3072,
vocabulary 30522, a 2-label classifier on the first token), so both engines run
the same work: speed does not depend on the weights' values. Three variants:
  f32   inference precision forced to f32
  bf16  OpenVINO's default on a CPU with AMX/AVX-512 BF16 (f32 model, bf16 inference)
  int8  NNCF post-training quantization (static activation scales from 32
        random calibration sentences), the int8 path OpenVINO users take
Sentences of SEQ tokens, batches of 1 and 32, a fixed number of threads;
prints one JSON line per (variant, batch) with sentences/s; --rounds R times
each R times, running --between's command after each (bert_head_to_head.sh).

  python openvino_bert.py --threads 2 --seq 128 --batches 1,32 --seconds 10
"""

import json

import numpy as np
import openvino as ov
import openvino.opset13 as ops

import peer_timing  # beside this script


def bert_model(layers=12, hidden=768, heads=12, ffn=3072, vocab=30522, labels=2, seed=0):
    rng = np.random.default_rng(seed)

    def weight(*shape, scale=0.02):
        return ops.constant(rng.normal(0.0, scale, shape).astype(np.float32))

    def ones_ish(n):
        return ops.constant((1.0 + rng.uniform(-0.1, 0.1, n)).astype(np.float32))

    def layer_norm(x):
        axis = ops.constant(np.array([-1], dtype=np.int64))
        norm = ops.mvn(x, axis, normalize_variance=True, eps=1e-12, eps_mode="inside_sqrt")
        return ops.add(ops.multiply(norm, ones_ish(hidden)), weight(hidden))

    def linear(x, n_in, n_out):  # x [B, T, n_in] @ W^T [n_out, n_in] + b, as a Hugging Face Linear
        return ops.add(ops.matmul(x, weight(n_out, n_in), False, True), weight(n_out))

    ids = ops.parameter([-1, -1], ov.Type.i64, name="input_ids")
    shape = ops.shape_of(ids)
    seq = ops.gather(shape, ops.constant(np.array([1], dtype=np.int64)), ops.constant(np.int64(0)))
    positions = ops.range(ops.constant(np.int64(0)), ops.squeeze(seq, ops.constant(np.int64(0))),
                          ops.constant(np.int64(1)), ov.Type.i64)
    x = ops.gather(weight(vocab, hidden), ids, ops.constant(np.int64(0)))
    x = ops.add(x, ops.gather(weight(512, hidden), positions, ops.constant(np.int64(0))))
    x = ops.add(x, ops.gather(weight(2, hidden), ops.constant(np.array([0], dtype=np.int64)),
                              ops.constant(np.int64(0))))
    x = layer_norm(x)
    head_dim = hidden // heads
    split = ops.constant(np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge = ops.constant(np.array([0, 0, hidden], dtype=np.int64))
    to_heads = ops.constant(np.array([0, 2, 1, 3], dtype=np.int64))
    for _ in range(layers):
        def project():  # one of q, k, v: [B, heads, T, head_dim]
            return ops.transpose(ops.reshape(linear(x, hidden, hidden), split, special_zero=True), to_heads)
        q, k, v = project(), project(), project()
        scores = ops.multiply(ops.matmul(q, k, False, True),
                              ops.constant(np.float32(1.0 / np.sqrt(head_dim))))
        context = ops.matmul(ops.softmax(scores, -1), v, False, False)
        context = ops.reshape(ops.transpose(context, to_heads), merge, special_zero=True)
        x = layer_norm(ops.add(x, linear(context, hidden, hidden)))
        inner = ops.gelu(linear(x, hidden, ffn), approximation_mode="erf")
        x = layer_norm(ops.add(x, linear(inner, ffn, hidden)))
    first = ops.gather(x, ops.constant(np.int64(0)), ops.constant(np.int64(1)))
    pooled = ops.tanh(ops.add(ops.matmul(first, weight(hidden, hidden), False, True), weight(hidden)))
    logits = ops.add(ops.matmul(pooled, weight(labels, hidden), False, True), weight(labels))
    return ov.Model([logits], [ids], "bert-base-random")


def int8_model(model, seq, seed=1):
    import nncf

    rng = np.random.default_rng(seed)
    samples = [rng.integers(1000, 30000, (1, seq), dtype=np.int64) for _ in range(32)]
    return nncf.quantize(model, nncf.Dataset(samples), model_type=nncf.ModelType.TRANSFORMER,
                         subset_size=len(samples))


def sentences_per_second(compiled, batch, seq, seconds):
    request = compiled.create_infer_request()
    ids = np.random.default_rng(2).integers(1000, 30000, (batch, seq), dtype=np.int64)
    return peer_timing.sentences_per_second(lambda: request.infer({0: ids}), batch, seconds)


def main():
    args = peer_timing.parse_arguments(__doc__, "f32,bf16,int8", rounds=True)
    core = ov.Core()
    model = bert_model()
    for variant in args.variants.split(","):
        config = {"INFERENCE_NUM_THREADS": args.threads, "PERFORMANCE_HINT": "LATENCY"}
        if variant == "f32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
            compiled = core.compile_model(model, "CPU", config)
        elif variant == "bf16":
            config["INFERENCE_PRECISION_HINT"] = "bf16"
            compiled = core.compile_model(model, "CPU", config)
        elif variant == "int8":
            compiled = core.compile_model(int8_model(model, args.seq), "CPU", config)
        else:
            raise SystemExit(f"unknown variant {variant!r}: f32, bf16 or int8")
        for _ in range(args.rounds):
            for batch in (int(b) for b in args.batches.split(",")):
                rate = sentences_per_second(compiled, batch, args.seq, args.seconds)
                print(json.dumps({"engine": f"OpenVINO {ov.__version__.split('-')[0]}", "variant": variant,
                                  "batch": batch, "seq": args.seq, "threads": args.threads,
                                  "sent_s": round(rate, 2)}), flush=True)
                peer_timing.between_rounds(args, batch)


if __name__ == "__main__":
    main()
