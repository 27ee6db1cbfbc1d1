#include "engine/session/encoder_session.h"

#include "engine/core/error.h"
#include "engine/text/utf8.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace octet {

EncoderSession::EncoderSession(const Model& model, const Placement& placement, const Tokenizer& tokenizer,
                               const TokenizerConfig& config)
    : model_(model),
      tokenizer_(tokenizer),
      executor_(model, placement, static_cast<int>(model.info().context_length)),
      lower_case_(config.do_lower_case.value_or(false)),
      max_tokens_(static_cast<int>(model.info().context_length)) {
  const ModelInfo& info = model.info();
  if (info.kind != ModelKind::Encoder) fail("{}: {} is not an encoder", info.source, info.architecture);
  cls_ = tokenizer.token_id(config.cls_token);
  sep_ = tokenizer.token_id(config.sep_token);
  if (cls_ < 0 || sep_ < 0) {
    fail("{}: the tokenizer has no '{}' or '{}' token to frame texts with", info.source, config.cls_token,
         config.sep_token);
  }
  if (tokenizer.vocab_size() > info.vocab_size) {
    fail("{}: the tokenizer has {} tokens but the model's vocabulary is {}", info.source, tokenizer.vocab_size(),
         info.vocab_size);
  }
  if (max_tokens_ < 3) fail("{}: {} positions cannot hold a framed text", info.source, max_tokens_);
}

FramedText EncoderSession::frame(std::string_view a, std::optional<std::string_view> b) const {
  const auto encode = [&](std::string_view text, const char* which) {
    require_utf8(text, which);
    std::vector<std::int32_t> ids = tokenizer_.encode(lower_case_ ? utf8_lower(text) : std::string(text));
    if (ids.empty()) fail("{} is empty (no tokens)", which);
    return ids;
  };
  std::vector<std::int32_t> first = encode(a, "text");
  std::vector<std::int32_t> second;
  if (b) second = encode(*b, "second text");
  // Room for [CLS], [SEP] and the pair's second [SEP]; the longer text loses tokens first.
  const std::size_t room = static_cast<std::size_t>(max_tokens_) - (b ? 3 : 2);
  while (first.size() + second.size() > room) {
    (first.size() >= second.size() ? first : second).pop_back();
  }
  FramedText out;
  out.ids.push_back(cls_);
  out.ids.insert(out.ids.end(), first.begin(), first.end());
  out.ids.push_back(sep_);
  out.types.assign(out.ids.size(), 0);
  if (b) {
    out.ids.insert(out.ids.end(), second.begin(), second.end());
    out.ids.push_back(sep_);
    out.types.resize(out.ids.size(), 1);
  }
  return out;
}

std::vector<std::vector<float>> EncoderSession::run(std::span<const FramedText> texts, int batch_size,
                                                    const Progress& progress) {
  if (batch_size <= 0) fail("batch size must be positive, got {}", batch_size);
  // Longest first, so that each batch pads to nearly its own length.
  std::vector<std::size_t> order(texts.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return texts[x].ids.size() > texts[y].ids.size(); });
  std::vector<std::vector<float>> out(texts.size());
  std::vector<std::int32_t> ids, types, positions, lengths;
  for (std::size_t start = 0; start < order.size(); start += static_cast<std::size_t>(batch_size)) {
    const std::size_t n = std::min(order.size() - start, static_cast<std::size_t>(batch_size));
    const std::size_t seq = texts[order[start]].ids.size();
    if (seq == 0 || seq > static_cast<std::size_t>(max_tokens_)) {
      fail("a text of {} tokens does not fit the model's {} positions", seq, max_tokens_);
    }
    ids.assign(n * seq, model_.info().pad_id);
    types.assign(n * seq, 0);
    positions.resize(n * seq);
    lengths.resize(n);
    for (std::size_t b = 0; b < n; ++b) {
      const FramedText& t = texts[order[start + b]];
      if (t.types.size() != t.ids.size())
        fail("framed text {}: {} ids but {} token types", order[start + b], t.ids.size(), t.types.size());
      std::copy(t.ids.begin(), t.ids.end(), ids.begin() + static_cast<std::ptrdiff_t>(b * seq));
      std::copy(t.types.begin(), t.types.end(), types.begin() + static_cast<std::ptrdiff_t>(b * seq));
      std::iota(positions.begin() + static_cast<std::ptrdiff_t>(b * seq),
                positions.begin() + static_cast<std::ptrdiff_t>((b + 1) * seq), 0);
      lengths[b] = static_cast<std::int32_t>(t.ids.size());
    }
    const GraphInput inputs[] = {
        {"tokens", ids}, {"token_types", types}, {"positions", positions}, {"lengths", lengths}};
    const Tensor& result = executor_.run({static_cast<int>(seq), 0, false, static_cast<int>(n)}, inputs);
    const auto cols = static_cast<std::size_t>(result.dim(1));
    for (std::size_t b = 0; b < n; ++b) {
      const float* row = result.data<float>() + b * cols;
      out[order[start + b]].assign(row, row + cols);
    }
    if (progress) progress(start + n);
  }
  return out;
}

std::vector<double> softmax(std::span<const float> logits) {
  std::vector<double> p(logits.size());
  if (logits.empty()) return p;
  const double top = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(static_cast<double>(logits[i]) - top);
  for (double& v : p) v /= sum;
  return p;
}

}  // namespace octet
