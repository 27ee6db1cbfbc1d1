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


if __name__ == "__main__":
    seeds_safetensors()
    seeds_llama2c()
    seeds_hf_config()
    seeds_text_records()
    seeds_tokenizer()
    seeds_tokenizer_files()
    for d in sorted(CORPUS.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} inputs")
