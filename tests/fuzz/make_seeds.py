#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets to tests/fuzz/corpus/<target>/seed-*.

Small valid inputs of each reader (and a few near misses), from which libFuzzer
mutates. Inputs that once found a bug are kept beside them as bug-* files and
are not touched here. Python's standard library only.
"""
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def seeds_safetensors():
    t = "safetensors_fuzz"
    write(t, "f32", safetensors([("w", "F32", [2, 3], struct.pack("<6f", 1, -2, 3.5, 0, 1e-3, 7))]))
    write(t, "mixed", safetensors([
        ("a", "BF16", [2], b"\x80\x3f\x00\xc0"),
        ("b", "F16", [1, 2], b"\x00\x3c\x00\xbc"),
        ("c", "I8", [3], b"\x01\x7f\x81"),
        ("d", "F8_E4M3", [4], b"\x38\x7e\x7f\x00"),
        ("e", "F8_E5M2", [2], b"\x3c\x7c"),
        ("f", "U8", [2], b"\x00\xff"),
        ("g", "I32", [1], b"\x01\x00\x00\x80"),
        ("empty", "F32", [0, 4], b""),
    ], {"format": "pt"}))
    write(t, "truncated", safetensors([("w", "F32", [4], struct.pack("<4f", 1, 2, 3, 4))])[:-5])
    # compressed-tensors' sparse-24-bitmask parts of a [2, 8] int8 weight, read as "w.weight".
    write(t, "sparse24", safetensors([
        ("w.compressed", "I8", [2, 4], b"\x05\xfb\x7f\x81\x01\x02\x03\x04"),
        ("w.bitmask", "U8", [2, 1], b"\x33\x96"),
        ("w.shape", "I64", [2, 1], struct.pack("<2q", 2, 8)),
    ]))


def llama2c(dim, hidden, layers, heads, kv_heads, vocab, seq_len, shared=True):
    head = dim // heads
    floats = (vocab * dim + layers * dim + layers * dim * dim + 2 * layers * kv_heads * head * dim +
              layers * dim * dim + layers * dim + 3 * layers * hidden * dim + dim + seq_len * head)
    if not shared:
        floats += vocab * dim
    header = struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab if shared else -vocab, seq_len)
    return header + struct.pack(f"<{floats}f", *[((i * 37) % 17 - 8) / 64 for i in range(floats)])


def seeds_llama2c():
    t = "llama2c_fuzz"
    write(t, "tiny", llama2c(8, 16, 1, 2, 1, 5, 4))
    write(t, "separate-classifier", llama2c(4, 8, 2, 2, 2, 3, 2, shared=False))
    write(t, "header-only", struct.pack("<7i", 8, 16, 1, 2, 1, 5, 4))


def seeds_hf_config():
    t = "hf_config_fuzz"
    decoder = (ROOT / "tests/data/synthetic-llama/config.json").read_bytes()
    encoder = (ROOT / "assets/models/sst2-mini/config.json").read_bytes()
    write(t, "llama", b"\x00" + decoder)
    write(t, "bert", b"\x01" + encoder)
    quantized = json.loads(decoder)
    quantized["quantization_config"] = {
        "quant_method": "compressed-tensors", "format": "int-quantized",
        "config_groups": {"group_0": {"targets": ["Linear"],
                                      "weights": {"num_bits": 8, "type": "int", "symmetric": True,
                                                  "strategy": "channel"},
                                      "input_activations": None}},
        "ignore": ["lm_head"]}
    write(t, "llama-int8-config", b"\x00" + json.dumps(quantized).encode())
    tables = dict(quantized["quantization_config"]["config_groups"]["group_0"], targets=["Embedding"])
    quantized["quantization_config"]["config_groups"]["group_1"] = tables
    write(t, "llama-int8-embedding-config", b"\x00" + json.dumps(quantized).encode())
    write(t, "not-json", b"\x00{\"model_type\": \"llama\", ")


def seeds_text_records():
    t = "text_records_fuzz"
    write(t, "lines", b"\x00a fine film\n\nnot good at all\r\n")
    write(t, "tsv", b"\x01sentence\tlabel\nit 's a charming journey . \t1\nbleak\t0\n")
    write(t, "csv", b"\x02text,label\n\"a \"\"quoted\"\", multi\nline text\",positive\nplain,negative\n")
    write(t, "jsonl-pair", b"\x07{\"text\": \"first\", \"sentence2\": \"second\", \"label\": 1}\n{\"text\": 3}\n[1,2]\n")


def seeds_tokenizer():
    t = "tokenizer_fuzz"
    write(t, "sentencepiece", b"\x00Once upon a time, there was a little dog named Tim.\n\"Hello!\" he said.")
    write(t, "sentencepiece-specials", b"\x00<s>Hi</s> caf\xc3\xa9 \xe4\xb8\x80\xf0\x9f\x98\x80 <unk>")
    write(t, "wordpiece", b"\x01The Cats, unable \xc3\x89t\xc3\xa9 \xe4\xb8\x80\xe4\xba\x8c [SEP] ab abab")
    write(t, "invalid-utf8", b"\x00ok \xc3\x28 \xed\xa0\x80 \xf8\x88\x80\x80\x80")


def seeds_tokenizer_files():
    t = "tokenizer_files_fuzz"
    tokenizer_json = {
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100,
                  "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "the": 4, "cat": 5, "##s": 6}},
        "added_tokens": [{"id": 0, "content": "[PAD]", "special": True}],
    }
    write(t, "tokenizer-json", b"\x00" + json.dumps(tokenizer_json).encode())
    write(t, "vocab-txt", b"\x01[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\ncat\n##s\nun\n##able\n")
    write(t, "tokenizer-config", b"\x02" + (ROOT / "assets/models/sst2-mini/tokenizer_config.json").read_bytes())
    chatml = {"add_bos_token": False, "chat_template":
              "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
              " + '<|im_end|>' + '\\n'}}{% endfor %}"}
    write(t, "tokenizer-config-chatml", b"\x02" + json.dumps(chatml).encode())


def gguf(metadata, tensors):
    """A GGUF v3 file. metadata: list of (key, type number, value); tensors: (name, dims ne[], type, raw bytes)."""
    def s(text):
        b = text.encode()
        return struct.pack("<Q", len(b)) + b

    def value(kind, v):
        if kind == 8:
            return s(v)
        if kind == 9:
            elem, items = v
            return struct.pack("<IQ", elem, len(items)) + b"".join(value(elem, i) for i in items)
        return struct.pack({4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q"}[kind], v)

    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, kind, v in metadata:
        out += s(key) + struct.pack("<I", kind) + value(kind, v)
    data, infos = b"", b""
    for name, dims, kind, raw in tensors:
        data += b"\0" * (-len(data) % 32)
        infos += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", kind, len(data))
        data += raw
    out += infos
    return out + b"\0" * (-len(out) % 32) + data


def q8_0(n):  # n values: blocks of an f16 scale 1/64 and int8 values
    return b"".join(struct.pack("<e", 1 / 64) + bytes((b * 7 + i) % 256 for i in range(32)) for b in range(n // 32))


def q4_1(n):
    return b"".join(struct.pack("<ee", 1 / 16, -0.5) + bytes((b * 5 + i * 3) % 256 for i in range(16))
                    for b in range(n // 32))


def seeds_gguf():
    t = "gguf_fuzz"
    byte_tokens = [chr(c) if (33 <= c <= 126 or 161 <= c <= 172 or 174 <= c) else None for c in range(256)]
    extra = 256
    for i, c in enumerate(byte_tokens):
        if c is None:
            byte_tokens[i] = chr(extra)
            extra += 1
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + byte_tokens + ["Ġt", "he", "Ġthe"]
    vocab, d, ffn = len(tokens), 32, 64
    template = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                "{{ '<|im_start|>system\\nYou are a test.<|im_end|>\\n' }}{% endif %}"
                "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
                "{% endfor %}")
    meta = [("general.architecture", 8, "llama"), ("llama.block_count", 4, 1), ("llama.context_length", 4, 64),
            ("llama.embedding_length", 4, d), ("llama.feed_forward_length", 4, ffn),
            ("llama.attention.head_count", 4, 2), ("llama.attention.head_count_kv", 4, 1),
            ("llama.rope.freq_base", 6, 10000.0), ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5),
            ("tokenizer.ggml.model", 8, "gpt2"), ("tokenizer.ggml.pre", 8, "smollm"),
            ("tokenizer.ggml.tokens", 9, (8, tokens)),
            ("tokenizer.ggml.token_type", 9, (5, [3, 3, 3] + [1] * (vocab - 3))),
            ("tokenizer.ggml.merges", 9, (8, ["Ġ t", "h e", "Ġt he"])),
            ("tokenizer.ggml.bos_token_id", 4, 1), ("tokenizer.ggml.eos_token_id", 4, 2),
            ("tokenizer.ggml.add_bos_token", 7, False), ("tokenizer.chat_template", 8, template)]
    ones = struct.pack(f"<{d}f", *([1.0] * d))
    tensors = [("token_embd.weight", [d, vocab], 8, q8_0(d * vocab)), ("output_norm.weight", [d], 0, ones),
               ("blk.0.attn_norm.weight", [d], 0, ones), ("blk.0.ffn_norm.weight", [d], 0, ones),
               ("blk.0.attn_q.weight", [d, d], 3, q4_1(d * d)), ("blk.0.attn_k.weight", [d, 16], 3, q4_1(d * 16)),
               ("blk.0.attn_v.weight", [d, 16], 8, q8_0(d * 16)),
               ("blk.0.attn_output.weight", [d, d], 1, struct.pack(f"<{d * d}e", *[(i % 9 - 4) / 32 for i in range(d * d)])),
               ("blk.0.ffn_gate.weight", [d, ffn], 3, q4_1(d * ffn)), ("blk.0.ffn_up.weight", [d, ffn], 8, q8_0(d * ffn)),
               ("blk.0.ffn_down.weight", [ffn, d], 2, b"".join(struct.pack("<e", 1 / 32) + bytes(range(16)) for _ in range(d * ffn // 32)))]
    tiny = gguf(meta, tensors)
    write(t, "tiny-llama", tiny)
    write(t, "tiny-llama-truncated", tiny[:len(tiny) // 2])
    write(t, "types", (ROOT / "tests/data/gguf/types.gguf").read_bytes())
    write(t, "tiny-gpt2", (ROOT / "tests/data/gguf/tiny_gpt2.gguf").read_bytes())
    write(t, "tiny-llama-spm", (ROOT / "tests/data/gguf/tiny_llama_spm.gguf").read_bytes())
    write(t, "no-tensors", gguf([("general.architecture", 8, "gpt2"), ("general.alignment", 4, 64)], []))


def seeds_bpe_tokenizer():
    t = "bpe_tokenizer_fuzz"
    for name in ("gpt2_style", "llama3_style"):
        write(t, name, (ROOT / f"tests/data/bpe/{name}.json").read_bytes())
    small = {
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithNext", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}]},
        "model": {"type": "BPE", "byte_fallback": True, "ignore_merges": True,
                  "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "<0x41>": 4, "<s>": 5},
                  "merges": ["a b", ["Ġ", "a"]]},
        "added_tokens": [{"id": 5, "content": "<s>", "special": True, "lstrip": True, "rstrip": False}],
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                    {"Sequence": {"id": "A", "type_id": 0}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [5], "tokens": ["<s>"]}}},
        "decoder": {"type": "ByteLevel"},
    }
    write(t, "small", json.dumps(small))


if __name__ == "__main__":
    seeds_safetensors()
    seeds_llama2c()
    seeds_hf_config()
    seeds_text_records()
    seeds_tokenizer()
    seeds_tokenizer_files()
    seeds_gguf()
    seeds_bpe_tokenizer()
    for d in sorted(CORPUS.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} inputs")
