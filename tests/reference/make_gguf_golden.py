#!/usr/bin/env python3
"""GGUF test files and their references, from the `gguf` package and numpy.

  tests/data/gguf/types.gguf       one tensor of each type octet reads (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
                                   Q5_0, Q5_1, and the K-quants Q2_K ... Q6_K as random blocks, which the
                                   package cannot make), awkward shapes, and beside each `expected.NAME`:
                                   the gguf package's dequantization of it, as F32
  tests/data/gguf/tiny_llama.gguf  a random Llama (hidden 64, 2 layers, 4 heads, 2 key/value heads) with
                                   matrices in Q8_0, Q4_0, Q4_1, F16 and BF16, q and k rows permuted as
                                   llama.cpp's converter stores them, and the gpt2_style test tokenizer
  tests/data/gguf/tiny_{llama31,qwen2,qwen3,gpt2}.gguf
                                   tests/data/{llama3,qwen2,qwen3,gpt2}-tiny as llama.cpp's converter writes them
                                   (F32; Llama 3.1+'s rope_scaling as per-pair factors in rope_freqs.weight; GPT-2's
                                   Conv1D matrices transposed); their references are decoder_tiny_reference.json's
  tests/data/gguf/tiny_llama_spm.gguf
                                   a random Llama with the shipped tinystories-mini SentencePiece vocabulary as
                                   llama.cpp writes one (tokenizer.ggml.model "llama")
  tests/data/gguf/tiny_llama_reference.json
                                   prompt ids (Hugging Face's tokenizers) and float64 logits of an independent
                                   Hugging Face-layout forward pass (q and k un-permuted, half-split rotary)
                                   over the dequantized weights

With SmolLM2 (../shared) it also writes tests/data/smollm2_chat_reference.json: the greedy chat answer of
a float32 numpy forward pass over SmolLM2's dequantized GGUF weights, for the ChatML prompt with the
template's default system message (prompt ids from Hugging Face's tokenizers).

Run from the repository root in a virtual environment with gguf, numpy, sentencepiece and tokenizers:
  python3 tests/reference/make_gguf_golden.py [SHARED_DIR]
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_decoder_numpy import forward  # noqa: E402
from safetensors_numpy import read_safetensors  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
OUT = ROOT / "tests" / "data"


def to_bf16_bytes(x):
    bits = x.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
    return rounded.astype(np.uint16)


def add(writer, name, values, qtype):
    values = values.astype(np.float32)
    if qtype == Q.BF16:
        writer.add_tensor(name, to_bf16_bytes(values).view(np.uint8).reshape(*values.shape[:-1], -1), raw_dtype=Q.BF16)
    elif qtype in (Q.F32, Q.F16):
        writer.add_tensor(name, quantize(values, qtype))
    else:
        writer.add_tensor(name, quantize(values, qtype), raw_dtype=qtype)


def dequantized(reader):
    """Every tensor as the gguf package dequantizes it, in row-major (outermost first) shape."""
    out = {}
    for t in reader.tensors:
        shape = tuple(int(d) for d in reversed(t.shape))
        if t.tensor_type == Q.BF16:
            out[t.name] = (t.data.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(shape)
        else:
            out[t.name] = dequantize(t.data, t.tensor_type).reshape(shape)
    return out


def write(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def make_types(rng):
    path = OUT / "gguf" / "types.gguf"
    w = GGUFWriter(str(path), "test")
    cases = {"f32": ((3, 5), Q.F32), "f16": ((2, 7), Q.F16), "bf16": ((4, 3), Q.BF16), "q8_0": ((5, 64), Q.Q8_0),
             "q4_0": ((3, 96), Q.Q4_0), "q4_1": ((7, 32), Q.Q4_1), "q8_0_3d": ((2, 3, 32), Q.Q8_0)}
    for name, (shape, qtype) in cases.items():
        # Wide-ranging values, a zero block and a constant block: the corners of the scale arithmetic.
        v = rng.standard_normal(shape) * np.exp(rng.uniform(-4, 4, shape[:-1] + (1,)))
        v.reshape(-1)[:min(32, v.size)] = 0.0 if qtype != Q.Q4_1 else 0.75
        add(w, name, v, qtype)
    # Q5_0 and Q5_1 from values; K-quants as random bytes with finite f16 scales
    # at their places in each block (their own generator: the files made after
    # this one stay as they were).
    krng = np.random.default_rng(20261205)
    for name, (shape, qtype) in {"q5_0": ((3, 64), Q.Q5_0), "q5_1": ((2, 96), Q.Q5_1)}.items():
        v = krng.standard_normal(shape) * np.exp(krng.uniform(-4, 4, shape[:-1] + (1,)))
        v.reshape(-1)[:32] = 0.0 if qtype == Q.Q5_0 else 0.75
        add(w, name, v, qtype)
        cases[name] = (shape, qtype)
    k_blocks = {Q.Q2_K: (84, [80, 82]), Q.Q3_K: (110, [108]), Q.Q4_K: (144, [0, 2]), Q.Q5_K: (176, [0, 2]),
                Q.Q6_K: (210, [208])}
    for qtype, shape in [(Q.Q2_K, (3, 256)), (Q.Q3_K, (2, 512)), (Q.Q4_K, (3, 256)), (Q.Q5_K, (2, 512)),
                         (Q.Q6_K, (3, 256))]:
        size, scale_at = k_blocks[qtype]
        blocks = krng.integers(0, 256, (shape[0] * shape[1] // 256, size), dtype=np.uint8)
        for at in scale_at:
            scale = (krng.standard_normal(len(blocks)) * np.exp(krng.uniform(-6, 0, len(blocks)))).astype(np.float16)
            blocks[:, at:at + 2] = scale.view(np.uint8).reshape(-1, 2)
        name = qtype.name.lower()
        w.add_tensor(name, blocks.reshape(shape[0], -1), raw_dtype=qtype)
        cases[name] = (shape, qtype)
    write(w)
    ref = dequantized(GGUFReader(str(path)))
    # Rewrite with the expected values beside the stored ones.
    stored = {t.name: t for t in GGUFReader(str(path)).tensors}
    w = GGUFWriter(str(path) + ".tmp", "test")
    for name, (shape, qtype) in cases.items():
        t = stored[name]
        raw = np.array(t.data, copy=True)
        if qtype in (Q.F32, Q.F16):
            w.add_tensor(name, raw.reshape(shape))
        else:
            w.add_tensor(name, raw.view(np.uint8).reshape(*shape[:-1], -1), raw_dtype=qtype)
        w.add_tensor("expected." + name, ref[name].astype(np.float32))
    write(w)
    Path(str(path) + ".tmp").replace(path)


LAYER = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "q", "attn_k": "k",
         "attn_v": "v", "attn_output": "o", "ffn_gate": "gate", "ffn_up": "up", "ffn_down": "down"}


def permute(w, n_head):
    """llama.cpp's convert_hf_to_gguf permutation of q and k rows (rotary pairs made adjacent)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_weights(tensors, cfg):
    """Hugging Face-layout weights from GGUF tensors: q and k rows un-permuted."""
    p = {"embed": tensors["token_embd.weight"], "norm": tensors["output_norm.weight"],
         "head": tensors.get("output.weight", tensors["token_embd.weight"]), "layers": []}
    for l in range(cfg["n_layers"]):
        L = {LAYER[k]: tensors[f"blk.{l}.{k}.weight"] for k in LAYER}
        L["q"] = unpermute(L["q"], cfg["n_heads"])
        L["k"] = unpermute(L["k"], cfg["n_kv"])
        p["layers"].append(L)
    return p


def tiny_llama_writer(path, name, cfg):
    """A GGUFWriter for a Llama of `cfg`'s hyperparameters, as llama.cpp's converter writes them."""
    w = GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_context_length(cfg["ctx"])
    w.add_embedding_length(cfg["dim"])
    w.add_block_count(cfg["n_layers"])
    w.add_feed_forward_length(cfg["ffn"])
    w.add_head_count(cfg["n_heads"])
    w.add_head_count_kv(cfg["n_kv"])
    w.add_rope_dimension_count(cfg["head_dim"])
    w.add_rope_freq_base(cfg["theta"])
    w.add_layer_norm_rms_eps(cfg["eps"])
    w.add_vocab_size(cfg["vocab"])
    return w


def make_tiny_llama(rng):
    tok_path = OUT / "bpe" / "gpt2_style.json"
    tok = Tokenizer.from_file(str(tok_path))
    tj = json.loads(tok_path.read_text())
    vocab = sorted(tj["model"]["vocab"].items(), key=lambda e: e[1])
    tokens = [t for t, _ in vocab]
    cfg = dict(dim=64, ffn=96, n_layers=2, n_heads=4, n_kv=2, head_dim=16, vocab=len(tokens), eps=1e-5,
               theta=10000.0, ctx=128)
    path = OUT / "gguf" / "tiny_llama.gguf"
    w = tiny_llama_writer(path, "octet tiny llama (random weights)", cfg)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([3 if t == "<|endoftext|>" else 1 for t in tokens])
    w.add_token_merges(tj["model"]["merges"])
    w.add_bos_token_id(tok.token_to_id("<|endoftext|>"))
    w.add_eos_token_id(tok.token_to_id("<|endoftext|>"))
    w.add_add_bos_token(False)
    d, f, V = cfg["dim"], cfg["ffn"], cfg["vocab"]
    kinds = [Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.F16, Q.BF16]
    add(w, "token_embd.weight", rng.standard_normal((V, d)) * 0.5, Q.Q8_0)
    add(w, "output_norm.weight", 1 + 0.1 * rng.standard_normal(d), Q.F32)
    add(w, "output.weight", rng.standard_normal((V, d)) * 0.1, Q.Q4_1)
    i = 0
    for l in range(cfg["n_layers"]):
        shapes = {"attn_q": (d, d), "attn_k": (cfg["n_kv"] * cfg["head_dim"], d),
                  "attn_v": (cfg["n_kv"] * cfg["head_dim"], d), "attn_output": (d, d), "ffn_gate": (f, d),
                  "ffn_up": (f, d), "ffn_down": (d, f)}
        add(w, f"blk.{l}.attn_norm.weight", 1 + 0.1 * rng.standard_normal(d), Q.F32)
        add(w, f"blk.{l}.ffn_norm.weight", 1 + 0.1 * rng.standard_normal(d), Q.F32)
        for name, shape in shapes.items():
            m = rng.standard_normal(shape) / np.sqrt(shape[1])
            if name == "attn_q":
                m = permute(m, cfg["n_heads"])
            if name == "attn_k":
                m = permute(m, cfg["n_kv"])
            add(w, f"blk.{l}.{name}.weight", m, kinds[i % len(kinds)])
            i += 1
    write(w)
    p = hf_weights(dequantized(GGUFReader(str(path))), cfg)
    ids = tok.encode("Once upon a time, there was a little girl named Lily.", add_special_tokens=False).ids
    logits, _ = forward(p, cfg, np.array(ids), np.float64)
    (OUT / "gguf" / "tiny_llama_reference.json").write_text(json.dumps(
        {"prompt_ids": ids, "logits": [[round(float(v), 7) for v in row] for row in logits]}))


def make_tiny_llama_spm(rng):
    """tiny_llama_spm.gguf: a random Llama whose vocabulary is the shipped tinystories-mini SentencePiece
    tokenizer (trained for this project), written as llama.cpp's convert_hf_to_gguf writes a tokenizer.model
    (_set_vocab_sentencepiece): tokenizer.ggml.model "llama", pieces, scores and piece types, the special ids,
    add_space_prefix from the normalizer's dummy prefix."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    proto = pb.ModelProto()
    proto.ParseFromString((ROOT / "assets" / "models" / "tinystories-mini" / "tokenizer.model").read_bytes())
    tokens = [p.piece for p in proto.pieces]
    cfg = dict(dim=32, ffn=64, n_layers=1, n_heads=2, n_kv=2, head_dim=16, vocab=len(tokens), eps=1e-5,
               theta=10000.0, ctx=64)
    w = tiny_llama_writer(OUT / "gguf" / "tiny_llama_spm.gguf",
                          "octet tiny llama with a SentencePiece vocabulary (random weights)", cfg)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores([p.score for p in proto.pieces])
    w.add_token_types([int(p.type) for p in proto.pieces])  # llama.cpp's token types are SentencePiece's
    w.add_unk_token_id(proto.trainer_spec.unk_id)
    w.add_bos_token_id(proto.trainer_spec.bos_id)
    w.add_eos_token_id(proto.trainer_spec.eos_id)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(proto.normalizer_spec.add_dummy_prefix)
    d, f, V = cfg["dim"], cfg["ffn"], cfg["vocab"]
    add(w, "token_embd.weight", rng.standard_normal((V, d)) * 0.5, Q.F32)
    add(w, "output_norm.weight", 1 + 0.1 * rng.standard_normal(d), Q.F32)
    add(w, "blk.0.attn_norm.weight", 1 + 0.1 * rng.standard_normal(d), Q.F32)
    add(w, "blk.0.ffn_norm.weight", 1 + 0.1 * rng.standard_normal(d), Q.F32)
    for name, shape in {"attn_q": (d, d), "attn_k": (d, d), "attn_v": (d, d), "attn_output": (d, d),
                        "ffn_gate": (f, d), "ffn_up": (f, d), "ffn_down": (d, f)}.items():
        add(w, f"blk.0.{name}.weight", rng.standard_normal(shape) / np.sqrt(shape[1]), Q.F32)
    write(w)


def llama3_rope_factors(cfg):
    """llama.cpp's convert_hf_to_gguf (LlamaModel.generate_extra_tensors): one factor per rotary pair."""
    r = cfg["rope_scaling"]
    dim = cfg["head_dim"]
    freqs = 1.0 / (cfg["rope_theta"] ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    low_wavelen = r["original_max_position_embeddings"] / r["low_freq_factor"]
    high_wavelen = r["original_max_position_embeddings"] / r["high_freq_factor"]
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1)
        elif wavelen > low_wavelen:
            factors.append(r["factor"])
        else:
            smooth = (r["original_max_position_embeddings"] / wavelen - r["low_freq_factor"]) / (
                r["high_freq_factor"] - r["low_freq_factor"])
            factors.append(1 / ((1 - smooth) / r["factor"] + smooth))
    return np.array(factors, dtype=np.float32)


# Hugging Face layer weight names -> llama.cpp's, for the families converted below.
GGUF_LAYER = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
              "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
              "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
              "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
              "self_attn.v_proj.bias": "attn_v.bias", "self_attn.q_norm.weight": "attn_q_norm.weight",
              "self_attn.k_norm.weight": "attn_k_norm.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
              "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight"}


def convert_tiny(kind, arch, out_name):
    """tests/data/KIND-tiny as llama.cpp's convert_hf_to_gguf writes it (F32): Llama's q and k rows permuted
    (rotary pairs adjacent), Qwen's as they are (llama.cpp rotates them in halves), Llama 3's rope_scaling
    as per-pair factors in rope_freqs.weight. Its reference is decoder_tiny_reference.json's KIND."""
    src = OUT / f"{kind}-tiny"
    cfg = json.loads((src / "config.json").read_text())
    t = read_safetensors(src / "model.safetensors")
    w = GGUFWriter(str(OUT / "gguf" / out_name), arch)
    w.add_name(f"octet {kind}-tiny as GGUF")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_key_length(cfg["head_dim"])
    w.add_value_length(cfg["head_dim"])
    w.add_rope_dimension_count(cfg["head_dim"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    if cfg.get("rope_scaling"):
        add(w, "rope_freqs.weight", llama3_rope_factors(cfg), Q.F32)
    add(w, "token_embd.weight", t["model.embed_tokens.weight"], Q.F32)
    add(w, "output_norm.weight", t["model.norm.weight"], Q.F32)
    if "lm_head.weight" in t:
        add(w, "output.weight", t["lm_head.weight"], Q.F32)
    for l in range(cfg["num_hidden_layers"]):
        for hf, g in GGUF_LAYER.items():
            name = f"model.layers.{l}.{hf}"
            if name not in t:
                continue
            m = t[name]
            if arch == "llama" and g == "attn_q.weight":
                m = permute(m, cfg["num_attention_heads"])
            if arch == "llama" and g == "attn_k.weight":
                m = permute(m, cfg["num_key_value_heads"])
            add(w, f"blk.{l}.{g}", m, Q.F32)
    write(w)


def convert_tiny_gpt2():
    """tests/data/gpt2-tiny as llama.cpp's convert_hf_to_gguf writes GPT-2 (F32): Conv1D matrices transposed to
    [out, in], the head left tied to token_embd. Its reference is decoder_tiny_reference.json's gpt2."""
    src = OUT / "gpt2-tiny"
    cfg = json.loads((src / "config.json").read_text())
    t = read_safetensors(src / "model.safetensors")
    prefix = "transformer." if "transformer.wte.weight" in t else ""
    w = GGUFWriter(str(OUT / "gguf" / "tiny_gpt2.gguf"), "gpt2")
    w.add_name("octet gpt2-tiny as GGUF")
    w.add_block_count(cfg["n_layer"])
    w.add_context_length(cfg["n_ctx"])
    w.add_embedding_length(cfg["n_embd"])
    w.add_feed_forward_length(4 * cfg["n_embd"])
    w.add_head_count(cfg["n_head"])
    w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    names = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight",
             "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias"}
    layer = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
             "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    for l in range(cfg["n_layer"]):
        for hf, g in layer.items():
            for kind in ("weight", "bias"):
                names[f"h.{l}.{hf}.{kind}"] = f"blk.{l}.{g}.{kind}"
    for hf, g in names.items():
        m = t[prefix + hf]
        if hf.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            m = m.T
        add(w, g, m, Q.F32)
    write(w)


def make_converted_tinies():
    convert_tiny("llama3", "llama", "tiny_llama31.gguf")
    convert_tiny("qwen2", "qwen2", "tiny_qwen2.gguf")
    convert_tiny("qwen3", "qwen3", "tiny_qwen3.gguf")
    convert_tiny_gpt2()


def make_smollm2_chat():
    gguf_path = SHARED / "models" / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = Tokenizer.from_file(str(gguf_path.parent / "tokenizer.json"))
    r = GGUFReader(str(gguf_path))
    cfg = dict(dim=576, n_layers=30, n_heads=9, n_kv=3, head_dim=64, eps=1e-5, theta=100000.0)
    p = hf_weights(dequantized(r), cfg)
    system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    text = (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
            "<|im_start|>assistant\n")
    prompt = tok.encode(text, add_special_tokens=False).ids
    logits, cache = forward(p, cfg, np.array(prompt), np.float32)
    answer = []
    margins = []
    for _ in range(40):
        row = logits[-1].astype(np.float64)
        top = np.argsort(row)[-2:]
        nxt = int(top[-1])
        margins.append(float(row[top[-1]] - row[top[-2]]))
        answer.append(nxt)
        if nxt == 2:  # <|im_end|>
            break
        logits, cache = forward(p, cfg, np.array([nxt]), np.float32, cache, len(prompt) + len(answer) - 1)
    (OUT / "smollm2_chat_reference.json").write_text(json.dumps(
        {"prompt_text": text, "prompt_ids": prompt, "answer_ids": answer,
         "answer_text": tok.decode(answer, skip_special_tokens=True), "top2_margins": margins}, indent=1))
    print("SmolLM2:", tok.decode(answer, skip_special_tokens=True), "min margin", min(margins))


def main():
    rng = np.random.default_rng(20261204)
    make_types(rng)
    make_tiny_llama(rng)
    make_converted_tinies()
    make_tiny_llama_spm(np.random.default_rng(20261206))
    if (SHARED / "models" / "smollm2-135m-instruct").exists():
        make_smollm2_chat()


if __name__ == "__main__":
    main()
