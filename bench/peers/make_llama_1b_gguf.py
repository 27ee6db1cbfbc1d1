"""A GGUF file of the TinyLlama-1.1B shape (octet's synthetic:llama-1.1b: d 2048, ffn 5632, 22 layers,
32 heads, 4 KV heads, vocabulary 32000) with random weights, in F32, for comparing octet with llama.cpp
on the shape issue 22 names: both engines read this one file (llama-quantize makes the Q8_0 copy).
The vocabulary is the Llama 2 SentencePiece tokenizer from ../shared (TinyLlama's), written as llama.cpp's
convert_hf_to_gguf writes a tokenizer.model. Weights are N(0, 1/k) per matrix (k its input width), norms
near 1, so activations stay in range through 22 layers; speed does not depend on the values.

  make_llama_1b_gguf.py TOKENIZER_MODEL OUT.gguf
"""
import sys

import numpy as np
from gguf import GGUFWriter, GGMLQuantizationType
from sentencepiece import sentencepiece_model_pb2 as pb

CFG = dict(dim=2048, ffn=5632, n_layers=22, n_heads=32, n_kv=4, head_dim=64, vocab=32000, eps=1e-5,
           theta=10000.0, ctx=2048)


def main(tokenizer_model, out):
    proto = pb.ModelProto()
    with open(tokenizer_model, "rb") as f:
        proto.ParseFromString(f.read())
    tokens = [p.piece for p in proto.pieces]
    if len(tokens) != CFG["vocab"]:
        sys.exit(f"{tokenizer_model}: {len(tokens)} pieces, the 1.1B shape has {CFG['vocab']}")
    w = GGUFWriter(out, "llama")
    w.add_name("octet llama-1.1b shape (random weights)")
    w.add_context_length(CFG["ctx"])
    w.add_embedding_length(CFG["dim"])
    w.add_block_count(CFG["n_layers"])
    w.add_feed_forward_length(CFG["ffn"])
    w.add_head_count(CFG["n_heads"])
    w.add_head_count_kv(CFG["n_kv"])
    w.add_rope_dimension_count(CFG["head_dim"])
    w.add_rope_freq_base(CFG["theta"])
    w.add_layer_norm_rms_eps(CFG["eps"])
    w.add_vocab_size(CFG["vocab"])
    w.add_file_type(0)  # all F32
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores([p.score for p in proto.pieces])
    w.add_token_types([int(p.type) for p in proto.pieces])
    w.add_unk_token_id(proto.trainer_spec.unk_id)
    w.add_bos_token_id(proto.trainer_spec.bos_id)
    w.add_eos_token_id(proto.trainer_spec.eos_id)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    rng = np.random.default_rng(1)
    d, f, kv = CFG["dim"], CFG["ffn"], CFG["n_kv"] * CFG["head_dim"]

    def matrix(rows, cols, scale=None):
        return (rng.standard_normal((rows, cols), dtype=np.float32) *
                np.float32(scale if scale is not None else 1 / np.sqrt(cols)))

    def norm():
        return (1 + 0.1 * rng.standard_normal(d)).astype(np.float32)

    f32 = GGMLQuantizationType.F32
    w.add_tensor("token_embd.weight", matrix(CFG["vocab"], d, 0.5), raw_dtype=f32)
    w.add_tensor("output_norm.weight", norm(), raw_dtype=f32)
    w.add_tensor("output.weight", matrix(CFG["vocab"], d), raw_dtype=f32)
    for l in range(CFG["n_layers"]):
        w.add_tensor(f"blk.{l}.attn_norm.weight", norm(), raw_dtype=f32)
        w.add_tensor(f"blk.{l}.ffn_norm.weight", norm(), raw_dtype=f32)
        for name, (rows, cols) in {"attn_q": (d, d), "attn_k": (kv, d), "attn_v": (kv, d), "attn_output": (d, d),
                                   "ffn_gate": (f, d), "ffn_up": (f, d), "ffn_down": (d, f)}.items():
            w.add_tensor(f"blk.{l}.{name}.weight", matrix(rows, cols), raw_dtype=f32)
        print(f"layer {l + 1}/{CFG['n_layers']}", end="\r", file=sys.stderr, flush=True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
