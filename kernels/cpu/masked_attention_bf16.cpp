#include "kernels/cpu/masked_attention_bf16.h"

#include "engine/core/dtype.h"
#include "engine/core/error.h"
#include "engine/quant/quant.h"
#include "kernels/cpu/dnnl_check.h"
#include "kernels/cpu/softmax_f32.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <map>
#include <optional>
#include <vector>

namespace octet::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// A batched product c [batch, m, n] (f32) = a [batch, m, k] x b [batch, k, n]
// on oneDNN's brgemm kernels, with its scratchpad in the caller's hands, so
// that threads can run it side by side, each with its own Operands.
struct Product {
  dnnl::matmul matmul;
  dnnl::memory::desc a, b, c, scratchpad;
};

// One thread's memory objects for a Product (data handles set per call).
struct Operands {
  dnnl::memory a, b, c, scratchpad;

  Operands(const Product& p, const dnnl::engine& engine)
      : a(p.a, engine, DNNL_MEMORY_NONE),
        b(p.b, engine, DNNL_MEMORY_NONE),
        c(p.c, engine, DNNL_MEMORY_NONE),
        scratchpad(p.scratchpad, engine) {}

  void run(const Product& p, dnnl::stream& stream, void* a_data, void* b_data, void* c_data) {
    a.set_data_handle(a_data);
    b.set_data_handle(b_data);
    c.set_data_handle(c_data);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, a.get()},
                              {DNNL_ARG_WEIGHTS, b.get()},
                              {DNNL_ARG_DST, c.get()},
                              {DNNL_ARG_SCRATCHPAD, scratchpad.get()}};
    OCTET_DNNL_STATUS(dnnl_primitive_execute(p.matmul.get(), stream.get(), 4, args));
  }
};

std::optional<Product> brgemm_product(const dnnl::engine& engine, MaskedAttentionBf16::Kernels kernels,
                                      const dnnl::memory::desc& a, const dnnl::memory::desc& b,
                                      const dnnl::memory::desc& c) {
  try {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, engine);
    const std::string implementation = pd.impl_info_str();
    const bool amx = implementation.starts_with("brg:avx512_core_amx");
    if (!implementation.starts_with("brg") || (kernels == MaskedAttentionBf16::Kernels::Amx && !amx)) {
      return std::nullopt;
    }
    return Product{dnnl::matmul(pd), a, b, c, pd.scratchpad_desc()};
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
}

// The two products for items of `heads` heads of sequences of `tokens`.
struct Products {
  Product scores, output;
};

std::optional<Products> make_products(const dnnl::engine& engine, MaskedAttentionBf16::Kernels kernels, int heads,
                                      int tokens, int head_dim) {
  const dnnl::memory::dim H = heads, T = tokens, D = head_dim;
  // scores = q k^T: k^T [heads, head_dim, tokens] read from k's [heads, tokens, head_dim] (acb).
  auto scores = brgemm_product(engine, kernels, {{H, T, D}, dt::bf16, tag::abc}, {{H, D, T}, dt::bf16, tag::acb},
                               {{H, T, T}, dt::f32, tag::abc});
  auto output = brgemm_product(engine, kernels, {{H, T, T}, dt::bf16, tag::abc}, {{H, T, D}, dt::bf16, tag::abc},
                               {{H, T, D}, dt::f32, tag::abc});
  if (!scores || !output) return std::nullopt;
  return Products{std::move(*scores), std::move(*output)};
}

// Heads per work item: all of a sequence's where there are sequences enough
// for every thread; else fewer (a divisor of n_heads), so that one sentence
// keeps every core busy.
int heads_per_item(int n_heads, int batch, int threads) {
  if (batch >= threads) return n_heads;
  const int want = std::max(1, n_heads * batch / threads);
  int heads = want;
  while (n_heads % heads != 0) --heads;
  return heads;
}

}  // namespace

struct MaskedAttentionBf16::Impl {
  Kernels kernels = Kernels::Amx;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  int seq_len = 0, n_heads = 0, head_dim = 0;       // the prepared shape (0: none)
  std::map<int, std::optional<Products>> products;  // by heads per item

  // One thread's share: its stream, operands, and one item's data, head-major:
  // q, k, v [heads, tokens, head_dim] in bf16, scores [heads, tokens, tokens]
  // in f32 and as bf16 weights, the output [heads, tokens, head_dim].
  struct Worker {
    dnnl::stream stream;
    std::map<int, std::pair<Operands, Operands>> operands;  // by heads per item
    std::vector<std::uint16_t> q, k, v, weights;
    std::vector<float> scores, out;
  };
  std::vector<Worker> workers;

  const Products* products_for(int heads) {
    auto it = products.find(heads);
    if (it == products.end())
      it = products.emplace(heads, make_products(engine, kernels, heads, seq_len, head_dim)).first;
    return it->second ? &*it->second : nullptr;
  }

  // Makes the products and every thread's operands for items of `heads` heads.
  bool ready_for(int heads, int threads) {
    const Products* p = products_for(heads);
    if (p == nullptr) return false;
    while (static_cast<int>(workers.size()) < threads)
      workers.push_back({dnnl::stream(engine), {}, {}, {}, {}, {}, {}, {}});
    const auto per_item = static_cast<std::size_t>(n_heads) * seq_len * head_dim,
               scores = static_cast<std::size_t>(n_heads) * seq_len * seq_len;
    for (Worker& w : workers) {
      if (!w.operands.contains(heads)) {
        w.operands.emplace(heads, std::make_pair(Operands(p->scores, engine), Operands(p->output, engine)));
      }
      for (auto* v : {&w.q, &w.k, &w.v}) v->resize(per_item);
      w.weights.resize(scores);
      w.scores.resize(scores);
      w.out.resize(per_item);
    }
    return true;
  }
};

MaskedAttentionBf16::MaskedAttentionBf16(Kernels kernels) : impl_(std::make_unique<Impl>()) {
  impl_->kernels = kernels;
}
MaskedAttentionBf16::~MaskedAttentionBf16() = default;

bool MaskedAttentionBf16::prepare(int seq_len, int n_heads, int head_dim) {
  Impl& m = *impl_;
  if (seq_len <= 0 || n_heads <= 0 || head_dim <= 0) return false;
  if (seq_len != m.seq_len || n_heads != m.n_heads || head_dim != m.head_dim) {
    const Kernels kernels = m.kernels;
    m = Impl{};
    m.kernels = kernels;
    m.seq_len = seq_len;
    m.n_heads = n_heads;
    m.head_dim = head_dim;
  }
  // Every item size a step may use: whole sequences, and one sentence split among the threads.
  const int threads = omp_get_max_threads();
  return m.ready_for(n_heads, threads) && m.ready_for(heads_per_item(n_heads, 1, threads), threads);
}

bool MaskedAttentionBf16::run(const float* q, const float* k, const float* v, const std::int32_t* lengths,
                              const MaskedAttentionShape& s, float* out, std::int8_t* out_q, float* out_scale) {
  if (!prepare(s.seq_len, s.n_heads, s.head_dim)) return false;
  for (int b = 0; b < s.batch; ++b) {
    if (lengths[b] < 1 || lengths[b] > s.seq_len) {
      fail("masked attention: sequence {} has length {}, outside 1..{}", b, lengths[b], s.seq_len);
    }
  }
  Impl& m = *impl_;
  const int T = s.seq_len, D = s.head_dim, threads = omp_get_max_threads();
  const int heads = heads_per_item(s.n_heads, s.batch, threads), groups = s.n_heads / heads;
  if (!m.ready_for(heads, threads)) return false;
  const Products& products = *m.products_for(heads);
  const std::int64_t dim = static_cast<std::int64_t>(s.n_heads) * D;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  // Each thread runs whole items, oneDNN's calls on the calling thread only
  // (inside a parallel region): an item's data stays in that core's cache.
#pragma omp parallel for schedule(dynamic)
  for (int item = 0; item < s.batch * groups; ++item) {
    Impl::Worker& w = m.workers[static_cast<std::size_t>(omp_get_thread_num())];
    auto& [scores_operands, output_operands] = w.operands.at(heads);
    const int b = item / groups, h0 = item % groups * heads, length = lengths[b];
    const std::int64_t first = static_cast<std::int64_t>(b) * T * dim + static_cast<std::int64_t>(h0) * D;
    // Token-major rows to head-major bf16. Keys and values past the length
    // are zeros: a padding value times its zero weight must not make a NaN.
    for (int t = 0; t < T; ++t) {
      const bool real = t < length;
      for (int h = 0; h < heads; ++h) {
        const std::int64_t from = first + t * dim + static_cast<std::int64_t>(h) * D;
        const auto to = static_cast<std::size_t>((static_cast<std::int64_t>(h) * T + t) * D);
#pragma omp simd
        for (int d = 0; d < D; ++d) {
          w.q[to + static_cast<std::size_t>(d)] = f32_to_bf16(q[from + d]);
          w.k[to + static_cast<std::size_t>(d)] = real ? f32_to_bf16(k[from + d]) : std::uint16_t{0};
          w.v[to + static_cast<std::size_t>(d)] = real ? f32_to_bf16(v[from + d]) : std::uint16_t{0};
        }
      }
    }
    scores_operands.run(products.scores, w.stream, w.q.data(), w.k.data(), w.scores.data());
    // Each query row's softmax over the sequence's own keys, as bf16 weights.
    for (std::int64_t row = 0; row < static_cast<std::int64_t>(heads) * T; ++row) {
      float* scores = w.scores.data() + row * T;
      std::uint16_t* weights = w.weights.data() + row * T;
      const float inv_sum = 1.0f / exp_row(scores, length, scale);
#pragma omp simd
      for (int j = 0; j < T; ++j) weights[j] = j < length ? f32_to_bf16(scores[j] * inv_sum) : std::uint16_t{0};
    }
    output_operands.run(products.output, w.stream, w.weights.data(), w.v.data(), w.out.data());
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < heads; ++h) {
        const float* from = w.out.data() + (static_cast<std::int64_t>(h) * T + t) * D;
        float* to = out + first + t * dim + static_cast<std::int64_t>(h) * D;
#pragma omp simd
        for (int d = 0; d < D; ++d) to[d] = from[d];
      }
    }
    // A whole sequence's rows are complete here, and in this core's cache.
    if (out_q != nullptr && heads == s.n_heads) {
      for (std::int64_t row = static_cast<std::int64_t>(b) * T; row < static_cast<std::int64_t>(b + 1) * T; ++row) {
        out_scale[row] = quantize_row_int8(out + row * dim, dim, out_q + row * dim);
      }
    }
  }
  for (Impl::Worker& w : m.workers) w.stream.wait();
  if (out_q != nullptr && heads < s.n_heads) {  // a sentence's heads were split: its rows are complete only now
#pragma omp parallel for
    for (std::int64_t row = 0; row < static_cast<std::int64_t>(s.batch) * T; ++row) {
      out_scale[row] = quantize_row_int8(out + row * dim, dim, out_q + row * dim);
    }
  }
  return true;
}

}  // namespace octet::cpu
