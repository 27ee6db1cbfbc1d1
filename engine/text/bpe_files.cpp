// BpeSpec from the files that describe one: tokenizer.json, and GGUF metadata.
#include "engine/core/error.h"
#include "engine/text/bpe_tokenizer.h"

#include <fmt/ranges.h>

#include <map>

namespace octet {

namespace {

// llama.cpp's pre-tokenizer regexes (llama-vocab.cpp), by the names
// tokenizer.ggml.pre gives them, for GGUF files that carry a name instead of
// a tokenizer.json pre_tokenizer.
constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct GgufPre {
  std::vector<std::string_view> patterns;
  bool ignore_merges = false;
};

const std::map<std::string, GgufPre, std::less<>>& gguf_pre_tokenizers() {
  static const std::map<std::string, GgufPre, std::less<>> table = {
      {"default", {{kGpt2Pattern}}},
      {"gpt-2", {{kGpt2Pattern}}},
      {"gpt2", {{kGpt2Pattern}}},
      {"llama3", {{kLlama3Pattern}, true}},
      {"llama-bpe", {{kLlama3Pattern}, true}},
      {"llama-v3", {{kLlama3Pattern}, true}},
      {"smaug-bpe", {{kLlama3Pattern}}},
      {"qwen2", {{kQwen2Pattern}}},
      {"deepseek-r1-qwen", {{kQwen2Pattern}}},
      {"smollm", {{R"(\p{N})", kGpt2Pattern}}},
  };
  return table;
}

SplitBehavior split_behavior(const std::string& name, const std::string& where) {
  static const std::map<std::string, SplitBehavior> kNames = {{"Removed", SplitBehavior::Removed},
                                                              {"Isolated", SplitBehavior::Isolated},
                                                              {"MergedWithPrevious", SplitBehavior::MergedWithPrevious},
                                                              {"MergedWithNext", SplitBehavior::MergedWithNext},
                                                              {"Contiguous", SplitBehavior::Contiguous}};
  const auto it = kNames.find(name);
  if (it == kNames.end()) fail("{}: unknown Split behavior '{}'", where, name);
  return it->second;
}

std::string type_of(const Json& j, const std::string& where, const char* what) {
  if (!j.is_object()) fail("{}: {} is not an object", where, what);
  return json_required<std::string>(j, "type", where + " (" + what + ")");
}

void read_normalizer(const Json& j, const std::string& where, PreTokenizer& pre) {
  if (j.is_null()) return;
  const std::string type = type_of(j, where, "normalizer");
  if (type == "NFC") {
    pre.set_nfc(true);
  } else if (type == "Sequence") {
    const auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) fail("{}: normalizer Sequence has no \"normalizers\" list", where);
    for (const Json& n : *it) read_normalizer(n, where, pre);
  } else {
    fail("{}: normalizer type '{}' is not supported (none, NFC, Sequence)", where, type);
  }
}

void read_pre_tokenizer(const Json& j, const std::string& where, PreTokenizer& pre, bool& byte_level) {
  if (j.is_null()) return;
  const std::string type = type_of(j, where, "pre_tokenizer");
  if (type == "Sequence") {
    const auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) fail("{}: pre_tokenizer Sequence has no \"pretokenizers\" list", where);
    for (const Json& p : *it) read_pre_tokenizer(p, where, pre, byte_level);
  } else if (type == "ByteLevel") {
    std::optional<Regex> regex;
    if (json_optional<bool>(j, "use_regex", true, where)) regex.emplace(std::string(kGpt2Pattern), false, where);
    pre.add(
        {std::move(regex), SplitBehavior::Isolated, false, json_optional<bool>(j, "add_prefix_space", true, where)});
    byte_level = true;
  } else if (type == "Split") {
    const auto p = j.find("pattern");
    if (p == j.end() || !p->is_object()) fail("{}: Split has no \"pattern\" object", where);
    const bool literal = p->contains("String");
    if (!literal && !p->contains("Regex"))
      fail("{}: Split's pattern is neither {{\"Regex\"}} nor {{\"String\"}}", where);
    const auto pattern = json_required<std::string>(*p, literal ? "String" : "Regex", where);
    pre.add({Regex(pattern, literal, where), split_behavior(json_required<std::string>(j, "behavior", where), where),
             json_optional<bool>(j, "invert", false, where), false});
  } else if (type == "Digits") {
    const bool each = json_optional<bool>(j, "individual_digits", false, where);
    pre.add({Regex(each ? R"(\p{N})" : R"(\p{N}+)", false, where), SplitBehavior::Isolated, false, false});
  } else {
    fail("{}: pre_tokenizer type '{}' is not supported (ByteLevel, Split, Digits, Sequence)", where, type);
  }
}

// What the post-processor puts around a single text: BOS (a special token before the text) and EOS after it.
void read_post_processor(const Json& j, const std::string& where, BpeSpec& spec) {
  if (j.is_null()) return;
  const std::string type = type_of(j, where, "post_processor");
  if (type == "ByteLevel") return;  // offsets only
  if (type == "Sequence") {
    const auto it = j.find("processors");
    if (it == j.end() || !it->is_array()) fail("{}: post_processor Sequence has no \"processors\" list", where);
    for (const Json& p : *it) read_post_processor(p, where, spec);
    return;
  }
  if (type != "TemplateProcessing") {
    fail("{}: post_processor type '{}' is not supported for BPE (ByteLevel, TemplateProcessing, Sequence)", where,
         type);
  }
  const auto single = j.find("single");
  if (single == j.end() || !single->is_array()) fail("{}: TemplateProcessing has no \"single\" list", where);
  bool before_text = true;
  for (const Json& item : *single) {
    if (item.contains("Sequence")) {
      before_text = false;
      continue;
    }
    if (!item.contains("SpecialToken") || !item["SpecialToken"].is_object()) {
      fail("{}: TemplateProcessing item {} is neither a Sequence nor a SpecialToken", where, item.dump());
    }
    const auto name = json_required<std::string>(item["SpecialToken"], "id", where);
    const auto& tokens = j.value("special_tokens", Json::object());
    if (!tokens.is_object() || !tokens.contains(name))
      fail("{}: TemplateProcessing names '{}' without its ids", where, name);
    const auto ids = json_required<std::vector<std::int32_t>>(tokens[name], "ids", where);
    if (ids.size() != 1) fail("{}: TemplateProcessing's '{}' is {} tokens, not one", where, name, ids.size());
    if (before_text) {
      spec.bos_id = ids[0];
      spec.add_bos = true;
    } else {
      spec.eos_id = ids[0];
    }
  }
}

void read_decoder(const Json& j, const std::string& where, bool byte_level) {
  if (j.is_null()) return;
  const std::string type = type_of(j, where, "decoder");
  if (type == "ByteLevel" && byte_level) return;
  fail("{}: decoder type '{}' is not supported with this pre-tokenizer (ByteLevel decodes byte-level BPE)", where,
       type);
}

void require_plain_bpe(const Json& model, const std::string& where) {
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto v = json_optional<std::string>(model, key, "", where);
    if (!v.empty()) fail("{}: BPE with a {} ('{}') is not supported", where, key, v);
  }
  const auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null() && json_required<double>(model, "dropout", where) > 0) {
    fail("{}: BPE dropout is for training; a tokenizer.json with dropout is not supported", where);
  }
}

}  // namespace

std::unique_ptr<Tokenizer> load_bpe_json(const std::string& path, const Json& j) {
  const Json& model = j.at("model");
  require_plain_bpe(model, path);
  BpeSpec spec;
  spec.source = path;
  const auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) fail("{}: model.vocab is not an object", path);
  std::map<std::int64_t, std::string> by_id;
  const auto add_id = [&](std::int64_t id, const std::string& token) {
    if (id < 0 || id >= (std::int64_t{1} << 24)) fail("{}: token '{}' has id {} (0 to 2^24)", path, token, id);
    const auto [it, fresh] = by_id.emplace(id, token);
    if (!fresh && it->second != token) fail("{}: id {} is both '{}' and '{}'", path, id, it->second, token);
  };
  for (const auto& [token, id] : vocab->items()) {
    if (!id.is_number_integer()) fail("{}: model.vocab's '{}' has no integer id", path, token);
    add_id(id.get<std::int64_t>(), token);
  }
  const auto added = j.find("added_tokens");
  if (added != j.end() && !added->is_null()) {
    if (!added->is_array()) fail("{}: added_tokens is not a list", path);
    for (const Json& a : *added) {
      AddedToken t;
      t.content = json_required<std::string>(a, "content", path);
      const auto id = json_required<std::int64_t>(a, "id", path);
      add_id(id, t.content);
      t.id = static_cast<std::int32_t>(id);
      t.special = json_optional<bool>(a, "special", false, path);
      t.lstrip = json_optional<bool>(a, "lstrip", false, path);
      t.rstrip = json_optional<bool>(a, "rstrip", false, path);
      spec.added.push_back(std::move(t));
    }
  }
  if (by_id.empty()) fail("{}: the vocabulary is empty", path);
  spec.vocab.resize(static_cast<std::size_t>(by_id.rbegin()->first + 1));
  for (auto& [id, token] : by_id) spec.vocab[static_cast<std::size_t>(id)] = std::move(token);

  const auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) fail("{}: model.merges is not a list", path);
  spec.merges.reserve(merges->size());
  for (const Json& m : *merges) {
    if (m.is_string()) {  // "a b": tokens never contain a space (it is Ġ in the byte alphabet)
      const auto s = m.get<std::string>();
      const std::size_t space = s.find(' ', 1);
      if (space == std::string::npos) fail("{}: merge '{}' is not two tokens separated by a space", path, s);
      spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      fail("{}: merge {} is neither \"a b\" nor [\"a\", \"b\"]", path, m.dump());
    }
  }
  spec.ignore_merges = json_optional<bool>(model, "ignore_merges", false, path);
  spec.byte_fallback = json_optional<bool>(model, "byte_fallback", false, path);
  const auto unk = model.find("unk_token");
  if (unk != model.end() && !unk->is_null()) {
    const auto token = json_required<std::string>(model, "unk_token", path);
    const auto it = std::find_if(by_id.begin(), by_id.end(), [&](const auto& e) { return e.second == token; });
    if (it == by_id.end()) fail("{}: unk_token '{}' is not in the vocabulary", path, token);
    spec.unk_id = static_cast<std::int32_t>(it->first);
  }
  bool byte_level = false;
  read_normalizer(j.value("normalizer", Json()), path, spec.pre);
  read_pre_tokenizer(j.value("pre_tokenizer", Json()), path, spec.pre, byte_level);
  read_post_processor(j.value("post_processor", Json()), path, spec);
  read_decoder(j.value("decoder", Json()), path, byte_level);
  if (!byte_level) fail("{}: a BPE tokenizer without a ByteLevel pre-tokenizer is not supported", path);
  spec.pre.set_byte_level(true);
  return make_bpe(std::move(spec));
}

namespace {

// What a GGUF file's tokenizer.ggml.* metadata says of its byte-level BPE
// tokenizer: the spec without its pre-tokenizer steps, and those as llama.cpp
// names them.
struct GgufBpe {
  BpeSpec spec;
  const GgufPre* pre = nullptr;
};

GgufBpe read_gguf_bpe(const GgufFile& g) {
  const std::string& path = g.path();
  const std::string model = g.get_string("tokenizer.ggml.model");
  if (model != "gpt2") fail("{}: tokenizer.ggml.model is '{}', not a byte-level BPE ('gpt2') vocabulary", path, model);
  GgufBpe out;
  BpeSpec& spec = out.spec;
  spec.source = path;
  spec.vocab = g.get_strings("tokenizer.ggml.tokens");
  if (spec.vocab.empty()) fail("{}: tokenizer.ggml.tokens is empty", path);
  std::vector<std::int64_t> types;
  if (g.has("tokenizer.ggml.token_type")) {
    types = g.get_ints("tokenizer.ggml.token_type");
    if (types.size() != spec.vocab.size()) {
      fail("{}: {} token types for {} tokens", path, types.size(), spec.vocab.size());
    }
  }
  // llama.cpp's token types: 3 control (special), 4 user-defined (matched in any text).
  for (std::size_t id = 0; id < types.size(); ++id) {
    if (types[id] == 3 || types[id] == 4) {
      spec.added.push_back({spec.vocab[id], static_cast<std::int32_t>(id), types[id] == 3, false, false});
    }
  }
  for (const std::string& m : g.get_strings("tokenizer.ggml.merges")) {
    const std::size_t space = m.find(' ', 1);
    if (space == std::string::npos) fail("{}: merge '{}' is not two tokens separated by a space", path, m);
    spec.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  const std::string pre = g.find_string("tokenizer.ggml.pre").value_or("default");
  const auto& table = gguf_pre_tokenizers();
  const auto it = table.find(pre);
  if (it == table.end()) {
    std::vector<std::string> known;
    for (const auto& [name, p] : table) known.push_back(name);
    fail("{}: tokenizer.ggml.pre '{}' is a pre-tokenizer octet does not know (known: {})", path, pre,
         fmt::join(known, ", "));
  }
  out.pre = &it->second;
  spec.ignore_merges = out.pre->ignore_merges;
  const auto id = [&](const char* key) { return static_cast<std::int32_t>(g.find_int(key).value_or(-1)); };
  spec.bos_id = id("tokenizer.ggml.bos_token_id");
  spec.eos_id = id("tokenizer.ggml.eos_token_id");
  spec.add_bos = g.find_bool("tokenizer.ggml.add_bos_token").value_or(false) && spec.bos_id >= 0;
  return out;
}

}  // namespace

std::unique_ptr<Tokenizer> load_bpe_gguf(const GgufFile& g) {
  GgufBpe bpe = read_gguf_bpe(g);
  for (const std::string_view pattern : bpe.pre->patterns) {
    bpe.spec.pre.add({Regex(std::string(pattern), false, g.path()), SplitBehavior::Isolated, false, false});
  }
  bpe.spec.pre.set_byte_level(true);
  return make_bpe(std::move(bpe.spec));
}

Json gguf_tokenizer_json(const GgufFile& g) {
  const GgufBpe bpe = read_gguf_bpe(g);
  const BpeSpec& spec = bpe.spec;
  const auto token_of = [&](std::int32_t id) {
    if (id < 0 || static_cast<std::size_t>(id) >= spec.vocab.size()) {
      fail("{}: token id {} is outside the vocabulary of {}", g.path(), id, spec.vocab.size());
    }
    return spec.vocab[static_cast<std::size_t>(id)];
  };
  Json vocab = Json::object();
  for (std::size_t id = 0; id < spec.vocab.size(); ++id) {
    const auto [at, fresh] = vocab.emplace(spec.vocab[id], id);
    if (!fresh) {
      fail("{}: token '{}' is both id {} and id {}: a tokenizer.json vocabulary cannot hold that", g.path(),
           spec.vocab[id], at->get<std::size_t>(), id);
    }
  }
  Json merges = Json::array();
  for (const auto& [left, right] : spec.merges) merges.push_back({left, right});
  Json added = Json::array();
  for (const AddedToken& t : spec.added) {
    added.push_back({{"id", t.id},
                     {"content", t.content},
                     {"single_word", false},
                     {"lstrip", t.lstrip},
                     {"rstrip", t.rstrip},
                     {"normalized", false},
                     {"special", t.special}});
  }
  // llama.cpp's regexes as Split steps, then the byte-level mapping alone.
  Json steps = Json::array();
  for (const std::string_view pattern : bpe.pre->patterns) {
    steps.push_back({{"type", "Split"},
                     {"pattern", {{"Regex", std::string(pattern)}}},
                     {"behavior", "Isolated"},
                     {"invert", false}});
  }
  steps.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}});
  Json post = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  if (spec.add_bos) {
    const std::string bos = token_of(spec.bos_id);
    const Json bos_piece = {{"SpecialToken", {{"id", bos}, {"type_id", 0}}}};
    post = {{"type", "TemplateProcessing"},
            {"single", {bos_piece, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"pair",
             {bos_piece,
              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
              bos_piece,
              {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
            {"special_tokens", {{bos, {{"id", bos}, {"ids", {spec.bos_id}}, {"tokens", {bos}}}}}}};
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", steps}}},
          {"post_processor", post},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", spec.ignore_merges},
            {"vocab", vocab},
            {"merges", merges}}}};
}

}  // namespace octet
