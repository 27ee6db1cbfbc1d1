#include "engine/io/gguf.h"

#include "engine/core/error.h"
#include "engine/core/mapped_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

namespace octet {

namespace {

// GGUF's value types (gguf.h).
enum ValueType : std::uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

constexpr std::size_t kMaxDims = 4;  // GGML_MAX_DIMS
constexpr std::uint64_t kDefaultAlignment = 32;

// Reads the header front to back; every read checks that its bytes are in the file.
class Cursor {
 public:
  Cursor(const std::string& path, const unsigned char* data, std::size_t size)
      : path_(path), data_(data), size_(size) {}

  std::size_t at() const { return at_; }
  std::size_t left() const { return size_ - at_; }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + at_, sizeof(T));  // little-endian, as is every host we target
    at_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    const auto len = read<std::uint64_t>(what);
    if (len > left()) {
      fail("{}: {} at byte {} is {} bytes long, past the end of the file ({} bytes): file truncated?", path_, what,
           at_ - 8, len, size_);
    }
    std::string s(reinterpret_cast<const char*>(data_ + at_), static_cast<std::size_t>(len));
    at_ += static_cast<std::size_t>(len);
    return s;
  }

  // A count of items that take at least `min_item_bytes` each: bounded by the bytes left.
  std::uint64_t read_count(const char* what, std::size_t min_item_bytes) {
    const auto n = read<std::uint64_t>(what);
    if (n > left() / min_item_bytes) {
      fail("{}: {} {} at byte {} cannot fit in the {} bytes left: file truncated or corrupt", path_, what, n, at_ - 8,
           left());
    }
    return n;
  }

 private:
  void need(std::size_t n, const char* what) {
    if (n > left()) fail("{}: the file ends inside {} (byte {} of {}): file truncated?", path_, what, at_, size_);
  }
  const std::string& path_;
  const unsigned char* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

std::size_t min_value_bytes(std::uint32_t type) {
  switch (type) {
    case kU8:
    case kI8:
    case kBool:
      return 1;
    case kU16:
    case kI16:
      return 2;
    case kU32:
    case kI32:
    case kF32:
      return 4;
    default:
      return 8;  // strings and arrays start with a 64-bit length
  }
}

// One scalar of `type` (not an array) as the variant's alternative.
template <typename Sink>
void read_scalar(Cursor& in, std::uint32_t type, const std::string& path, const std::string& key, Sink&& sink) {
  switch (type) {
    case kU8:
      return sink(static_cast<std::int64_t>(in.read<std::uint8_t>("a u8 value")));
    case kI8:
      return sink(static_cast<std::int64_t>(in.read<std::int8_t>("an i8 value")));
    case kU16:
      return sink(static_cast<std::int64_t>(in.read<std::uint16_t>("a u16 value")));
    case kI16:
      return sink(static_cast<std::int64_t>(in.read<std::int16_t>("an i16 value")));
    case kU32:
      return sink(static_cast<std::int64_t>(in.read<std::uint32_t>("a u32 value")));
    case kI32:
      return sink(static_cast<std::int64_t>(in.read<std::int32_t>("an i32 value")));
    case kI64:
      return sink(in.read<std::int64_t>("an i64 value"));
    case kU64: {
      const auto v = in.read<std::uint64_t>("a u64 value");
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail("{}: metadata '{}' holds {}, too large", path, key, v);
      }
      return sink(static_cast<std::int64_t>(v));
    }
    case kF32:
      return sink(static_cast<double>(in.read<float>("an f32 value")));
    case kF64:
      return sink(in.read<double>("an f64 value"));
    case kBool: {
      const auto b = in.read<std::uint8_t>("a bool value");
      if (b > 1) fail("{}: metadata '{}' is a bool of value {}", path, key, b);
      return sink(b == 1);
    }
    case kString:
      return sink(in.read_string("a string value"));
    default:
      fail("{}: metadata '{}' has unknown value type {}", path, key, type);
  }
}

GgufValue read_value(Cursor& in, std::uint32_t type, const std::string& path, const std::string& key) {
  GgufValue out;
  if (type != kArray) {
    read_scalar(in, type, path, key, [&](auto v) { out.value = std::move(v); });
    return out;
  }
  const auto elem = in.read<std::uint32_t>("an array's element type");
  if (elem == kArray) fail("{}: metadata '{}' is an array of arrays, which octet does not read", path, key);
  if (elem > kF64) fail("{}: metadata '{}' is an array of unknown value type {}", path, key, elem);
  const std::uint64_t n = in.read_count("array length", min_value_bytes(elem));
  GgufValue::Array array;
  if (elem == kString) {
    array = std::vector<std::string>();
  } else if (elem == kF32 || elem == kF64) {
    array = std::vector<double>();
  } else if (elem == kBool) {
    array = std::vector<bool>();
  } else {
    array = std::vector<std::int64_t>();
  }
  std::visit([&](auto& v) { v.reserve(static_cast<std::size_t>(n)); }, array);
  for (std::uint64_t i = 0; i < n; ++i) {
    read_scalar(in, elem, path, key, [&](auto v) {
      std::visit(
          [&](auto& vec) {
            using Elem = typename std::decay_t<decltype(vec)>::value_type;
            if constexpr (std::is_same_v<Elem, std::decay_t<decltype(v)>>) vec.push_back(std::move(v));
          },
          array);
    });
  }
  out.value = std::move(array);
  return out;
}

const char* kind_name(const GgufValue& v) {
  switch (v.value.index()) {
    case 0:
      return "an integer";
    case 1:
      return "a float";
    case 2:
      return "a bool";
    case 3:
      return "a string";
    default:
      return "an array";
  }
}

}  // namespace

GgufFile::GgufFile(const std::string& path) : file_(MappedFile::open(path)) {
  Cursor in(path, file_->data(), file_->size());
  if (file_->size() < 4 || std::memcmp(file_->data(), "GGUF", 4) != 0) {
    fail("{}: not a GGUF file (it does not start with the magic \"GGUF\")", path);
  }
  in.read<std::uint32_t>("the magic");
  version_ = in.read<std::uint32_t>("the version");
  if (version_ != 2 && version_ != 3) fail("{}: GGUF version {} is not supported (2 and 3 are)", path, version_);
  // A tensor info takes at least 8 (name length) + 4 (dims) + 4 (type) + 8 (offset) bytes; a pair 8 + 4 + 1.
  const std::uint64_t n_tensors = in.read_count("tensor count", 24);
  const std::uint64_t n_kv = in.read_count("metadata count", 13);
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::string key = in.read_string("a metadata key");
    const auto type = in.read<std::uint32_t>("a metadata value type");
    GgufValue value = read_value(in, type, path, key);
    if (!metadata_.emplace(key, std::move(value)).second) fail("{}: metadata key '{}' appears twice", path, key);
  }
  std::uint64_t alignment = kDefaultAlignment;
  if (const auto a = find_int("general.alignment")) {
    if (*a <= 0 || (*a & (*a - 1)) != 0 || *a > 65536) {
      fail("{}: general.alignment {} is not a power of two up to 65536", path, *a);
    }
    alignment = static_cast<std::uint64_t>(*a);
  }
  struct Raw {
    std::uint64_t offset, nbytes;
  };
  std::vector<Raw> raw;
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = in.read_string("a tensor name");
    const auto n_dims = in.read<std::uint32_t>("a tensor's dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) fail("{}: tensor '{}' has {} dimensions (1 to 4)", path, t.name, n_dims);
    std::uint64_t numel = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = in.read<std::uint64_t>("a tensor dimension");
      if (dim == 0 || dim > (std::uint64_t{1} << 40) || numel > (std::uint64_t{1} << 40) / dim) {
        fail("{}: tensor '{}' has an implausible dimension {}", path, t.name, dim);
      }
      numel *= dim;
      t.shape.insert(t.shape.begin(), static_cast<std::int64_t>(dim));  // ggml's ne[0] is the innermost
    }
    const auto type_number = in.read<std::uint32_t>("a tensor type");
    const auto type = ggml_type_from_number(type_number);
    if (!type) {
      fail("{}: tensor '{}' has type {}, which octet does not read ({})", path, t.name, ggml_type_name(type_number),
           kGgmlTypesRead);
    }
    t.type = *type;
    const GgmlBlock block = ggml_block(t.type);
    if (t.shape.back() % block.values != 0) {
      fail("{}: tensor '{}' rows of {} values are not whole blocks of {} ({})", path, t.name, t.shape.back(),
           block.values, ggml_type_name(type_number));
    }
    const auto offset = in.read<std::uint64_t>("a tensor offset");
    if (offset % alignment != 0)
      fail("{}: tensor '{}' offset {} is not aligned to {}", path, t.name, offset, alignment);
    raw.push_back({offset, numel / static_cast<std::uint64_t>(block.values) * block.bytes});
    if (!index_.emplace(t.name, tensors_.size()).second) fail("{}: tensor '{}' appears twice", path, t.name);
    tensors_.push_back(std::move(t));
  }
  const std::uint64_t data_start = (in.at() + alignment - 1) / alignment * alignment;
  const std::uint64_t size = file_->size();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;  // [begin, end) in the file
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    GgufTensorInfo& t = tensors_[i];
    const Raw& r = raw[i];
    if (data_start > size || r.offset > size - data_start || r.nbytes > size - data_start - r.offset) {
      fail("{}: tensor '{}' ({} bytes at data offset {}) runs past the end of the file ({} bytes): file truncated?",
           path, t.name, r.nbytes, r.offset, size);
    }
    t.offset = static_cast<std::size_t>(data_start + r.offset);
    t.nbytes = static_cast<std::size_t>(r.nbytes);
    spans.emplace_back(t.offset, t.offset + t.nbytes);
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].first < spans[i - 1].second) fail("{}: two tensors overlap at byte {}", path, spans[i].first);
  }
}

const std::string& GgufFile::path() const { return file_->path(); }

const GgufValue& GgufFile::get(const std::string& key, const char* type) const {
  const auto it = metadata_.find(key);
  if (it == metadata_.end()) fail("{}: metadata '{}' ({}) is missing", path(), key, type);
  return it->second;
}

namespace {
template <typename T>
const T& expect(const GgufValue& v, const std::string& path, const std::string& key, const char* type) {
  if (const T* p = std::get_if<T>(&v.value)) return *p;
  fail("{}: metadata '{}' should be {} but is {}", path, key, type, kind_name(v));
}
template <typename T>
const T& expect_array(const GgufValue& v, const std::string& path, const std::string& key, const char* type) {
  const auto& array = expect<GgufValue::Array>(v, path, key, type);
  if (const T* p = std::get_if<T>(&array)) return *p;
  fail("{}: metadata '{}' should be {} but is an array of something else", path, key, type);
}
}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  return expect<std::string>(get(key, "a string"), path(), key, "a string");
}

std::int64_t GgufFile::get_int(const std::string& key) const {
  return expect<std::int64_t>(get(key, "an integer"), path(), key, "an integer");
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& v = get(key, "a number");
  if (const auto* i = std::get_if<std::int64_t>(&v.value)) return static_cast<double>(*i);
  return expect<double>(v, path(), key, "a number");
}

bool GgufFile::get_bool(const std::string& key) const {
  return expect<bool>(get(key, "a bool"), path(), key, "a bool");
}

const std::vector<std::string>& GgufFile::get_strings(const std::string& key) const {
  return expect_array<std::vector<std::string>>(get(key, "an array of strings"), path(), key, "an array of strings");
}

const std::vector<std::int64_t>& GgufFile::get_ints(const std::string& key) const {
  return expect_array<std::vector<std::int64_t>>(get(key, "an array of integers"), path(), key, "an array of integers");
}

const std::vector<double>& GgufFile::get_floats(const std::string& key) const {
  return expect_array<std::vector<double>>(get(key, "an array of floats"), path(), key, "an array of floats");
}

std::optional<std::string> GgufFile::find_string(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_string(key);
}

std::optional<std::int64_t> GgufFile::find_int(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_int(key);
}

std::optional<bool> GgufFile::find_bool(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_bool(key);
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Tensor GgufFile::dequantize(const GgufTensorInfo& info) const {
  Tensor out = Tensor::zeros(DType::F32, info.shape);
  dequantize_ggml(info.type, file_->data() + info.offset, out.numel(), out.data_mut<float>());
  // The stored bytes are read once, at load: their pages go back (read again from the file if asked).
  file_->release_pages(file_->data() + info.offset, info.nbytes);
  return out;
}

bool is_gguf_path(const std::string& path) { return std::filesystem::path(path).extension() == ".gguf"; }

}  // namespace octet
