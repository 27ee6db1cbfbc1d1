// A small tensor: dtype, shape, device and storage that is either owned
// (64-byte aligned) or a view into a memory-mapped file. Always contiguous
// row-major; a view is a byte offset into shared storage.
#pragma once

#include "engine/core/dtype.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace octet {

enum class Device { Cpu, Cuda };

using Shape = std::vector<std::int64_t>;

// Throws octet::Error for a negative dimension or a count whose bytes would overflow.
std::int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[4, 128]"

class MappedFile;
struct QuantParams;

class Tensor {
 public:
  Tensor() = default;

  // Owned, zero-filled CPU storage.
  static Tensor zeros(DType dtype, Shape shape);
  // A view of `bytes` in a mapped file; the tensor keeps the file mapped.
  static Tensor mapped(DType dtype, Shape shape, std::shared_ptr<const MappedFile> file, std::size_t byte_offset);
  // A view of memory someone else owns and keeps alive (executor arenas).
  static Tensor borrowed(DType dtype, Shape shape, void* data, Device device = Device::Cpu);
  // Storage a backend allocated on its device; the deleter of `storage` frees it.
  static Tensor on_device(DType dtype, Shape shape, Device device, std::shared_ptr<void> storage);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  std::int64_t dim(int i) const { return shape_.at(static_cast<std::size_t>(i)); }
  int rank() const { return static_cast<int>(shape_.size()); }
  Device device() const { return device_; }
  std::int64_t numel() const { return shape_numel(shape_); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
  bool is_mapped() const { return file_ != nullptr; }
  // A mapped tensor's resident pages given back (MappedFile::release_pages):
  // for a weight a backend has packed into a copy of its own. No effect on
  // other tensors.
  void release_file_pages() const;

  const void* raw() const { return data_; }
  // Mapped tensors are read-only; asking to write one is a bug caught here.
  void* raw_mut();

  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }
  template <typename T>
  T* data_mut() {
    return static_cast<T*>(raw_mut());
  }
  std::span<const float> f32() const;
  std::span<float> f32_mut();

  // Same bytes, another shape with the same element count.
  Tensor reshaped(Shape shape) const;
  // Part of this tensor's storage, `byte_offset` bytes in, as `dtype` and
  // `shape` (which must fit); it keeps the whole storage alive. No quant().
  Tensor view(DType dtype, Shape shape, std::size_t byte_offset) const;

  // Scales of a quantized tensor (see engine/quant/quant.h); null for plain tensors.
  const QuantParams* quant() const { return quant_.get(); }
  Tensor with_quant(std::shared_ptr<const QuantParams> params) const;

 private:
  DType dtype_ = DType::F32;
  Shape shape_;
  Device device_ = Device::Cpu;
  std::shared_ptr<void> owned_;               // owned storage, if any
  std::shared_ptr<const MappedFile> file_;    // mapped storage, if any
  std::shared_ptr<const QuantParams> quant_;  // scales, if quantized
  void* data_ = nullptr;
};

// A float32 copy of any tensor (the one conversion path the loaders use).
Tensor to_f32(const Tensor& tensor);

}  // namespace octet
