#include "engine/core/tensor.h"

#include "engine/core/error.h"
#include "engine/core/mapped_file.h"

#include <fmt/ranges.h>
#include <sys/mman.h>
#include <unistd.h>

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
  if (bytes >= kHugePageBytes) {
    // Large tensors (weights, KV caches) are mapped from the kernel on a
    // 2 MiB boundary and ask for transparent huge pages, which the kernel
    // grants on request only ("madvise", Debian's default): a matmul
    // streaming its weights then misses the TLB once per 2 MiB instead of
    // once per 4 KiB. Fresh anonymous pages read as zero, so nothing is
    // written here: a page becomes resident when first touched (a server's
    // KV cache of 8 slots x 8192 positions costs only what its sequences fill).
    if (bytes > std::numeric_limits<std::size_t>::max() / 2)
      fail("out of memory allocating {} bytes for a tensor", bytes);
    static const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t span = bytes + kHugePageBytes;
    void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) fail("out of memory allocating {} bytes for a tensor", bytes);
    const auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (start + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    const std::size_t length = (bytes + page - 1) / page * page;
    if (aligned > start) munmap(raw, aligned - start);  // the slack before and after the aligned span
    if (const std::uintptr_t end = start + span; end > aligned + length) {
      munmap(reinterpret_cast<void*>(aligned + length), end - aligned - length);
    }
    void* p = reinterpret_cast<void*>(aligned);
    madvise(p, length, MADV_HUGEPAGE);  // advice: a kernel without THP ignores it
    t.owned_ = std::shared_ptr<void>(p, [length](void* q) { munmap(q, length); });
    t.data_ = p;
  } else if (bytes > 0) {
    void* p = nullptr;
    if (posix_memalign(&p, 64, bytes) != 0 || p == nullptr)
      fail("out of memory allocating {} bytes for a tensor", bytes);
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

void Tensor::release_file_pages() const {
  if (file_ != nullptr) file_->release_pages(data_, nbytes());
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

Tensor Tensor::view(DType dtype, Shape shape, std::size_t byte_offset) const {
  const auto bytes = static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype);
  if (byte_offset > nbytes() || bytes > nbytes() - byte_offset) {
    fail("a view of {} bytes at offset {} runs past a tensor of {} bytes", bytes, byte_offset, nbytes());
  }
  Tensor t = *this;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = static_cast<unsigned char*>(data_) + byte_offset;
  t.quant_ = nullptr;
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
