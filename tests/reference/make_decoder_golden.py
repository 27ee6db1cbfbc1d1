#!/usr/bin/env python3
"""Tiny random decoder checkpoints in the Hugging Face layout, one per family variant, and their logits.

  tests/data/{qwen2,qwen3,llama3,gpt2}-tiny/
                                          config.json (as transformers writes them) and
                                          model.safetensors (float32, random)
  tests/data/decoder_tiny_reference.json  for each: prompt ids and float64 logits of
                                          tests/reference/hf_decoder_numpy.py over the same weights

Qwen2 differs from Llama by biases on q, k and v; Qwen3 by an RMSNorm of each head of q and k before
the rotation (and a head_dim that is not hidden_size / heads here, as in the real models); llama3 is
Llama 3.1's rope_scaling (type llama3), with an original context short enough that its three regimes
(kept, blended, scaled) each cover some of the head's frequencies.
gpt2 is GPT2LMHeadModel as the hub's original gpt2 files store it (no "transformer." prefix, Conv1D
weights [in, out], the attn.bias mask buffer), against a numpy forward pass written from modeling_gpt2.
Run from the repository root (numpy only):  python3 tests/reference/make_decoder_golden.py
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_decoder_numpy import forward  # noqa: E402
from safetensors_numpy import write_safetensors  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data"


def make(kind, rng):
    d, ffn, nh, nkv, vocab = 32, 64, 4, 2, 128
    hd = 8 if kind == "qwen2" else 16
    arch = {"qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM", "llama3": "LlamaForCausalLM"}[kind]
    config = {"architectures": [arch], "model_type": "llama" if kind == "llama3" else kind,
              "hidden_size": d, "intermediate_size": ffn, "num_hidden_layers": 2, "num_attention_heads": nh,
              "num_key_value_heads": nkv, "head_dim": hd, "vocab_size": vocab, "max_position_embeddings": 64,
              "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": kind == "qwen2",
              "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
              "sliding_window": 16, "use_sliding_window": False, "max_window_layers": 2}
    if kind == "qwen3":
        config["attention_bias"] = False
    if kind == "llama3":
        for k in ("sliding_window", "use_sliding_window", "max_window_layers"):
            del config[k]
        config.update(rope_theta=500000.0, attention_bias=False, mlp_bias=False,
                      rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
    w = {"model.embed_tokens.weight": rng.standard_normal((vocab, d)) * 0.5,
         "model.norm.weight": 1 + 0.1 * rng.standard_normal(d)}
    if not config["tie_word_embeddings"]:
        w["lm_head.weight"] = rng.standard_normal((vocab, d)) / np.sqrt(d)
    p = {"embed": None, "layers": []}
    for l in range(2):
        pre = f"model.layers.{l}."
        shapes = {"self_attn.q_proj.weight": (nh * hd, d), "self_attn.k_proj.weight": (nkv * hd, d),
                  "self_attn.v_proj.weight": (nkv * hd, d), "self_attn.o_proj.weight": (d, nh * hd),
                  "mlp.gate_proj.weight": (ffn, d), "mlp.up_proj.weight": (ffn, d), "mlp.down_proj.weight": (d, ffn)}
        for name, shape in shapes.items():
            w[pre + name] = rng.standard_normal(shape) / np.sqrt(shape[1])
        for name in ("input_layernorm.weight", "post_attention_layernorm.weight"):
            w[pre + name] = 1 + 0.1 * rng.standard_normal(d)
        if kind == "qwen2":
            for proj, n in (("q", nh * hd), ("k", nkv * hd), ("v", nkv * hd)):
                w[pre + f"self_attn.{proj}_proj.bias"] = 0.5 * rng.standard_normal(n)
        else:
            for proj in ("q", "k"):
                w[pre + f"self_attn.{proj}_norm.weight"] = 1 + 0.3 * rng.standard_normal(hd)
    w = {k: v.astype(np.float32) for k, v in w.items()}
    folder = OUT / f"{kind}-tiny"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    write_safetensors(folder / "model.safetensors", w)

    f64 = {k: v.astype(np.float64) for k, v in w.items()}
    p = {"embed": f64["model.embed_tokens.weight"], "norm": f64["model.norm.weight"],
         "head": f64.get("lm_head.weight", f64["model.embed_tokens.weight"]), "layers": []}
    for l in range(2):
        pre = f"model.layers.{l}."
        L = {"input_layernorm": f64[pre + "input_layernorm.weight"],
             "post_attention_layernorm": f64[pre + "post_attention_layernorm.weight"]}
        for short, name in (("q", "self_attn.q_proj"), ("k", "self_attn.k_proj"), ("v", "self_attn.v_proj"),
                            ("o", "self_attn.o_proj"), ("gate", "mlp.gate_proj"), ("up", "mlp.up_proj"),
                            ("down", "mlp.down_proj")):
            L[short] = f64[pre + name + ".weight"]
            if pre + name + ".bias" in f64:
                L[short + "_bias"] = f64[pre + name + ".bias"]
        if kind == "qwen3":
            L["q_norm"], L["k_norm"] = f64[pre + "self_attn.q_norm.weight"], f64[pre + "self_attn.k_norm.weight"]
        p["layers"].append(L)
    ids = [1] + [int(i) for i in rng.integers(3, vocab, 11)]  # BOS first, as octet perplexity frames a window
    logits, _ = forward(p, dict(n_heads=nh, n_kv=nkv, head_dim=hd, eps=1e-6, theta=config["rope_theta"],
                                rope_scaling=config.get("rope_scaling")), np.array(ids), np.float64)
    return {"prompt_ids": ids, "logits": [[round(float(v), 7) for v in row] for row in logits]}


def gelu_new(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def gpt2_forward(w, ids, nh, eps=1e-5):
    def ln(x, n):
        m = x.mean(-1, keepdims=True)
        return (x - m) / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + eps) * w[n + ".weight"] + w[n + ".bias"]

    T = len(ids)
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]
    d = x.shape[1]
    hd = d // nh
    mask = np.triu(np.full((T, T), -np.inf), 1)
    layer = 0
    while f"h.{layer}.ln_1.weight" in w:
        p = f"h.{layer}."
        qkv = ln(x, p + "ln_1") @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = (qkv[:, i * d:(i + 1) * d].reshape(T, nh, hd) for i in range(3))
        s = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        a = np.einsum("hqk,khd->qhd", s / s.sum(-1, keepdims=True), v).reshape(T, d)
        x = x + a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = gelu_new(ln(x, p + "ln_2") @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        x = x + h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        layer += 1
    return ln(x, "ln_f") @ w["wte.weight"].T


def make_gpt2(rng):
    d, nh, ffn, vocab, positions = 32, 4, 128, 128, 32
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": d, "n_layer": 2, "n_head": nh,
              "n_inner": None, "n_positions": positions, "n_ctx": positions, "vocab_size": vocab,
              "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "bos_token_id": 1, "eos_token_id": 2,
              "scale_attn_weights": True, "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1}
    w = {"wte.weight": rng.standard_normal((vocab, d)) * 0.5, "wpe.weight": rng.standard_normal((positions, d)) * 0.2,
         "ln_f.weight": 1 + 0.1 * rng.standard_normal(d), "ln_f.bias": 0.1 * rng.standard_normal(d)}
    for l in range(2):
        p = f"h.{l}."
        for name, (i, o) in {"attn.c_attn": (d, 3 * d), "attn.c_proj": (d, d), "mlp.c_fc": (d, ffn),
                             "mlp.c_proj": (ffn, d)}.items():
            w[p + name + ".weight"] = rng.standard_normal((i, o)) / np.sqrt(i)  # Conv1D: [in, out]
            w[p + name + ".bias"] = 0.2 * rng.standard_normal(o)
        for name in ("ln_1", "ln_2"):
            w[p + name + ".weight"] = 1 + 0.1 * rng.standard_normal(d)
            w[p + name + ".bias"] = 0.1 * rng.standard_normal(d)
    w = {k: v.astype(np.float32) for k, v in w.items()}
    tensors = dict(w)
    for l in range(2):  # the causal-mask buffer old checkpoints carry: no layer reads it
        tensors[f"h.{l}.attn.bias"] = np.tril(np.ones((positions, positions), np.float32))[None, None]
    folder = OUT / "gpt2-tiny"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    write_safetensors(folder / "model.safetensors", tensors)
    ids = [1] + [int(i) for i in rng.integers(3, vocab, 11)]
    logits = gpt2_forward({k: v.astype(np.float64) for k, v in w.items()}, np.array(ids), nh)
    return {"prompt_ids": ids, "logits": [[round(float(v), 7) for v in row] for row in logits]}


def main():
    rng = np.random.default_rng(20261204)
    ref = {kind: make(kind, rng) for kind in ("qwen2", "qwen3", "llama3")}
    ref["gpt2"] = make_gpt2(rng)
    (OUT / "decoder_tiny_reference.json").write_text(json.dumps(ref))


if __name__ == "__main__":
    main()
