// Large-M int8 products (prompts, encoder batches) over the packed weight
// the panels GEMV reads (gemv_int8_panels.h: its layout, its column offsets),
// for CPUs without AMX. With AVX-512 VNNI this kernel replaces
// oneDNN's brgemm: oneDNN writes int32 sums that a pass of their own then
// scales (after another pass has shifted the activations into u8), where
// here each tile's sums are scaled in registers and the shift happens as a
// thread copies its rows. Same int32 sums, same float expression, so the
// same floats as oneDNN's path and the GEMV.
//
// With VNNI in 256 bits alone (AVX-VNNI: Intel's client CPUs from Alder
// Lake), where oneDNN 2.6 has no int8 brgemm, it runs in 256 bits; with AVX2
// alone (no VNNI, no int8 brgemm either) in 256 bits on vpmaddubsw
// (int8_dot::Broadcast4).
//
// The work: register tiles of 6 rows (4 in the AVX2 form) x one panel's 64 columns (in 256 bits,
// a quarter of them at a time), over the whole K; a thread runs its rows
// over a chunk of panels that stays in its L2 cache before the next chunk,
// the chunk's first pass of rows streaming it from memory and the later
// passes fetching the next chunk (a product's weights are rarely in cache);
// the first chunk is one panel, each next one twice the last up to that
// size. Threads split the rows, or the panels where there are too few rows
// to share.
#pragma once

#include <cstdint>
#include <functional>

namespace octet::cpu {

// Bytes of scratch gemm_s8s8_f32_panels needs for m rows of k: the rows
// shifted into u8 and padded to the layout's K (in the AVX2 form each row
// and its magnitudes: twice that).
std::int64_t gemm_panels_scratch_bytes(std::int64_t m, std::int64_t k);

// y[m, n] = x_scale[m] * w_scale[n] * sum_k x[m, k] * w[k, n] (+ bias[n]) for
// a weight packed in the panels layout and its panel_offsets, as
// gemv_s8s8_f32_panels computes it; then `then(row, y + row * n)` on each row
// once its floats are there (from the thread that made them; several threads
// at once, each row once). |x| <= 127, `bias` may be null, k <= kPanelMaxK,
// `scratch` holds gemm_panels_scratch_bytes(m, k). Only where panels_built().
void gemm_s8s8_f32_panels(const std::int8_t* x, const float* x_scale, const std::int8_t* packed,
                          const std::int32_t* offsets, const float* w_scale, float* y, std::int64_t m, std::int64_t k,
                          std::int64_t n, const float* bias, std::uint8_t* scratch,
                          const std::function<void(std::int64_t, float*)>& then = {});

}  // namespace octet::cpu
