// y[M, N] = x_scale[m] * w_scale[n] * sum_k x[m, k] * w[n, k] (+ bias[n]) on
// oneDNN's int8 matmul, for CPUs where oneDNN runs it on its brgemm kernels
// (AVX-512 VNNI and later): int8 activations (as s8, or shifted into u8: see
// Activations) x s8 weights, int32 sums written into y, then both scales and
// the bias in one pass over y while it is in cache, the same floats as the
// own kernel's. On AVX-VNNI CPUs (no AVX-512) and AVX2 ones (no VNNI)
// oneDNN 2.6 has no int8 brgemm (its other int8 kernels there saturate,
// gemm:jit, or crawl, ref_int8), and every product runs on the own panels
// kernels (own_panels_only). Without AVX2 this class declines and the caller
// runs its own kernel (gemm_int8.h).
//
// Weights are packed once into the layout oneDNN picks (format_tag::any plus
// a reorder, s8s8 compensation included where the activations are s8). Where
// one layout serves decode and prefill alike, one copy serves every M; where
// oneDNN's kernels for one token and for many want different layouts, each
// gets its copy. Primitives are created once per (M, K, N) and reused: a
// decode step creates none. Where oneDNN's prefill layout is the panels one
// (AMX CPUs; also an Emerald Rapids host with AVX-512 VNNI and no AMX) and
// this build has AVX-512 VNNI, products of up to kPanelRows rows run on the
// own GEMV over that same copy (gemv_int8_panels.h): one copy for every M,
// read at the memory's speed; and where that CPU has no AMX, larger products
// run on the own GEMM over it (gemm_int8_panels.h), scaled in registers.
// Where oneDNN has no int8 brgemm and the build has AVX2, the layout is the
// panels one always (own_panels_only). No oneDNN type appears
// in this header.
#pragma once

#include "engine/core/tensor.h"
#include "kernels/cpu/int8_product.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace octet::cpu {

class MatmulInt8Dnnl {
 public:
  enum class Kernels {
    Brgemm,  // only oneDNN's brgemm kernels: decline everything else (what the backend uses)
    Any,     // whatever oneDNN picks: lets tests check the packing and post-ops on any CPU
  };
  // How the int8 activations reach oneDNN's product. VNNI's dot product
  // multiplies unsigned by signed bytes: given s8 activations, oneDNN's
  // brgemm without AMX shifts them into u8 in its inner loop, where handing
  // it u8 from the start ran 1.25x as fast (4096 x 768 x 768 and 4096 x 768 x
  // 3072, an Emerald Rapids host without AMX, 2 threads). Shifted: x + 128 as
  // u8 (one pass flipping each byte's top bit), and 128 * each weight
  // column's sum taken off the int32 sums in the scale pass: the same sums,
  // so the same floats. AMX multiplies s8 by s8 itself.
  enum class Activations {
    Signed,
    Shifted,
  };
  // Shifted where this CPU's brgemm runs on VNNI without AMX; else Signed.
  static Activations fastest_activations();
  explicit MatmulInt8Dnnl(Kernels kernels = Kernels::Brgemm, Activations activations = fastest_activations());
  // The most rows a product runs on the own panels GEMV (where it runs at
  // all); past 4 it passes over each panel twice, the second time from cache.
  // Batch 8 decode against oneDNN's kernel at 8 rows, one session on a
  // Sapphire Rapids host (2 threads): SmolLM2-135M 679 -> 747 tok/s (its small
  // matrices pay oneDNN's per-call cost), the 1.1B shape 157 -> 163.
  static constexpr std::int64_t kPanelRows = 8;
  ~MatmulInt8Dnnl();
  MatmulInt8Dnnl(const MatmulInt8Dnnl&) = delete;
  MatmulInt8Dnnl& operator=(const MatmulInt8Dnnl&) = delete;

  // Whether oneDNN's int8 brgemm kernels run on this CPU, as oneDNN sees it:
  // AVX-512 VNNI (which AMX CPUs have too). oneDNN 2.6 has none for AVX-VNNI
  // alone (Intel's client CPUs from Alder Lake; with ONEDNN_MAX_CPU_ISA=
  // AVX2_VNNI it declined every product).
  static bool cpu_has_int8_brgemm();
  // Where it has none but this build has the own panels kernels (an AVX-VNNI
  // or AVX2 CPU, their 256-bit forms; or oneDNN capped below AVX-512 VNNI), every
  // weight is packed into the panels layout all the same (oneDNN's reorder
  // needs no brgemm) and every product runs on them (gemv_int8_panels.h for
  // up to kPanelRows rows, gemm_int8_panels.h above): one copy for every M,
  // as on the AVX-512 CPUs. Whether that is so here.
  static bool own_panels_only();

  // Packs the weight w [n, k] (rows are output channels, |w| <= 127) for the
  // later runs; false where it cannot run on the kernels asked for.
  bool pack(const std::int8_t* w, std::int64_t k, std::int64_t n);
  // A packed copy of the weight w [n, k] that serves every M on its own,
  // for a model to hold in place of w: where this CPU's layout for (K, N)
  // is the panels layout (AMX CPUs with AVX-512 VNNI), an I8 tensor of shape
  // [n, k] whose bytes are that copy (with padding and oneDNN's data after
  // them: not the values of w in rows), else an empty tensor. Safe to call
  // from one thread at a time (model loading).
  static Tensor panels_copy(const std::int8_t* w, std::int64_t k, std::int64_t n);
  // Takes a panels_copy tensor (made in this process) as a packed weight,
  // under its own address, without copying it; false where this instance's
  // layout for its (K, N) is not the panels layout.
  bool adopt_panels(const Tensor& packed);
  // Creates the primitive and buffers for a shape ahead of its first run
  // (the backend does so when it plans a step, so that running one creates
  // nothing); false where it declines.
  bool prepare(std::int64_t m, std::int64_t k, std::int64_t n);
  // Work on each row of y once its floats are there (its index in this
  // product, the row), in the scale pass's parallel loop while the row is in
  // cache: an elementwise function and the row's quantization for the next
  // product (the backend's matmul_then_gelu). Called from several threads at
  // once, each row once.
  using RowEpilogue = std::function<void(std::int64_t row, float* y)>;
  // The product with a weight `pack` accepted; false (nothing written) where
  // the weight was not packed (for this M's layout) or this M does not run on
  // the kernels asked for.
  // |x| <= 127; `bias` may be null; `then`, if set, runs on each row.
  bool run(const std::int8_t* x, const float* x_scale, const std::int8_t* w, const float* w_scale, float* y,
           std::int64_t m, std::int64_t k, std::int64_t n, const float* bias = nullptr, const RowEpilogue& then = {});
  // Products of the same x with several weights `pack` accepted (each
  // product's w: the weight as given to pack) in one parallel loop
  // (int8_product.h), where every one runs on the own panels GEMV at this M
  // (gemv_int8_panels.h); false, nothing written, otherwise (the caller runs
  // them one by one). Each y gets what run writes.
  bool run_together(const std::int8_t* x, const float* x_scale, std::span<const Int8Product> products, std::int64_t m,
                    std::int64_t k);
  // The product with w [n, k] read as it is, rows of k values (no packed
  // copy: oneDNN's brgemm packs blocks of it as it goes, 1.05-1.35x the time
  // of the product from a packed copy at 64-256 rows, 1.1B FFN shape,
  // Sapphire Rapids, 2 threads): for a weight kept in another form whose rows
  // the caller expands (2:4 prefill). plain_runs says whether a shape runs so
  // (before expanding anything); run_plain is false, nothing written, where not.
  bool plain_runs(std::int64_t m, std::int64_t k, std::int64_t n);
  bool run_plain(const std::int8_t* x, const float* x_scale, const std::int8_t* w, const float* w_scale, float* y,
                 std::int64_t m, std::int64_t k, std::int64_t n, const float* bias = nullptr);
  // The oneDNN implementation that `run` uses for this shape ("" if none), for tests.
  std::string implementation(std::int64_t m, std::int64_t k, std::int64_t n);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace octet::cpu
