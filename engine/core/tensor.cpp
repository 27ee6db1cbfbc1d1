#include "engine/core/tensor.h"

#include "engine/core/error.h"
#include "engine/core/mapped_file.h"

#include <fmt/ranges.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <limits>

namespace octet {

std::int64_t shape_numel(const Shape& shape) {
  // Bounded so that the byte size of any dtype (at most 8 bytes) fits too.
  constexpr std::int64_t kMaxElements = std::numeric_limits<std::int64_t>::max() / 8;
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d < 0) fail("shape {} has a negative dimension", shape_str(shape));
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxElements) fail("shape {} has too many elements", shape_str(shape));
  }
  return n;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

namespace {
constexpr std::size_t kHugePageBytes = 2u << 20;
}  // namespace

Tensor Tensor::zeros(DType dtype, Shape shape) {
  for (auto d : shape) {
    if (d < 0) fail("Tensor::zeros: negative dimension in shape {}", shape_str(shape));
  }
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  const std::size_t bytes = (t.nbytes() + 63) / 64 * 64;
  if (bytes > 0) {
    // Large tensors (weights, mostly) start on a 2 MiB boundary and ask for
    // transparent huge pages, which the kernel grants on request only
    // ("madvise", Debian's default): a matmul streaming its weights then
    // misses the TLB once per 2 MiB instead of once per 4 KiB.
    const bool huge = bytes >= kHugePageBytes;
    void* p = nullptr;
    if (posix_memalign(&p, huge ? kHugePageBytes : 64, bytes) != 0) p = nullptr;
    if (p == nullptr) fail("out of memory allocating {} bytes for a tensor", bytes);
    if (huge) madvise(p, bytes, MADV_HUGEPAGE);  // advice: a kernel without THP ignores it
    std::memset(p, 0, bytes);
    t.owned_ = std::shared_ptr<void>(p, std::free);
    t.data_ = p;
  }
  return t;
}

Tensor Tensor::mapped(DType dtype, Shape shape, std::shared_ptr<const MappedFile> file, std::size_t byte_offset) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  if (byte_offset + t.nbytes() > file->size()) {
    fail("{}: tensor of {} bytes at offset {} runs past the end of the file ({} bytes)", file->path(), t.nbytes(),
         byte_offset, file->size());
  }
  t.data_ = const_cast<unsigned char*>(file->data()) + byte_offset;
  t.file_ = std::move(file);
  return t;
}

Tensor Tensor::borrowed(DType dtype, Shape shape, void* data, Device device) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  t.device_ = device;
  return t;
}

Tensor Tensor::on_device(DType dtype, Shape shape, Device device, std::shared_ptr<void> storage) {
  Tensor t = borrowed(dtype, std::move(shape), storage.get(), device);
  t.owned_ = std::move(storage);
  return t;
}

void* Tensor::raw_mut() {
  if (file_ != nullptr) fail("attempt to write a tensor mapped read-only from {}", file_->path());
  return data_;
}

std::span<const float> Tensor::f32() const {
  if (dtype_ != DType::F32) fail("expected an F32 tensor, found {}", dtype_name(dtype_));
  if (device_ != Device::Cpu) fail("the host cannot read a tensor that lives on the GPU");
  return {data<float>(), static_cast<std::size_t>(numel())};
}

std::span<float> Tensor::f32_mut() {
  if (dtype_ != DType::F32) fail("expected an F32 tensor, found {}", dtype_name(dtype_));
  if (device_ != Device::Cpu) fail("the host cannot write a tensor that lives on the GPU");
  return {data_mut<float>(), static_cast<std::size_t>(numel())};
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel()) {
    fail("cannot reshape {} to {}", shape_str(shape_), shape_str(shape));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::with_quant(std::shared_ptr<const QuantParams> params) const {
  Tensor t = *this;
  t.quant_ = std::move(params);
  return t;
}

Tensor to_f32(const Tensor& tensor) {
  if (tensor.quant() != nullptr) fail("to_f32: a quantized tensor needs dequantize(), not a dtype conversion");
  // A mapped F32 tensor whose data is float-aligned is used in place.
  if (tensor.dtype() == DType::F32 && reinterpret_cast<std::uintptr_t>(tensor.raw()) % alignof(float) == 0) {
    return tensor;
  }
  Tensor out = Tensor::zeros(DType::F32, tensor.shape());
  convert_to_f32(tensor.dtype(), tensor.raw(), out.data_mut<float>(), static_cast<std::size_t>(tensor.numel()));
  return out;
}

}  // namespace octet
