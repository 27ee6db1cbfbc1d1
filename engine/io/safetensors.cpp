#include "engine/io/safetensors.h"

#include "engine/core/error.h"
#include "engine/core/mapped_file.h"
#include "engine/io/sparse24_bitmask.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

namespace octet {

namespace {

using json = nlohmann::json;

// Hugging Face's own reader refuses headers over 100 MB; so do we.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

// Bytes per element of the safetensors dtypes octet does not compute with
// (buffers such as position_ids); 0 for a name safetensors does not define.
std::size_t foreign_dtype_size(const std::string& name) {
  if (name == "BOOL" || name == "F8_E8M0") return 1;
  if (name == "I16" || name == "U16") return 2;
  if (name == "U32") return 4;
  if (name == "I64" || name == "U64" || name == "F64") return 8;
  return 0;
}

SafetensorsEntry parse_entry(const std::string& path, const std::string& name, const json& v, std::size_t data_size) {
  if (!v.is_object()) fail("{}: header entry '{}' is not an object", path, name);
  if (!v.contains("dtype") || !v["dtype"].is_string()) {
    fail("{}: tensor '{}' has no dtype string", path, name);
  }
  const auto dtype_text = v["dtype"].get<std::string>();
  const auto dtype = dtype_from_name(dtype_text);
  const std::size_t foreign = foreign_dtype_size(dtype_text);
  if (!dtype && foreign == 0) fail("{}: tensor '{}' has unknown dtype '{}'", path, name, dtype_text);
  if (!v.contains("shape") || !v["shape"].is_array()) {
    fail("{}: tensor '{}' has no shape array", path, name);
  }
  Shape shape;
  std::uint64_t numel = 1;
  for (const auto& d : v["shape"]) {
    if (!d.is_number_unsigned()) fail("{}: tensor '{}' has a non-integer or negative dimension", path, name);
    const auto dim = d.get<std::uint64_t>();
    if (dim != 0 && numel > std::numeric_limits<std::uint64_t>::max() / 16 / dim) {
      fail("{}: tensor '{}' shape overflows", path, name);
    }
    numel *= dim;
    shape.push_back(static_cast<std::int64_t>(dim));
  }
  const auto& offsets = v.value("data_offsets", json());
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail("{}: tensor '{}' needs data_offsets [begin, end]", path, name);
  }
  const auto begin = offsets[0].get<std::uint64_t>();
  const auto end = offsets[1].get<std::uint64_t>();
  if (begin > end) fail("{}: tensor '{}' has data_offsets begin {} > end {}", path, name, begin, end);
  if (end > data_size) {
    fail("{}: tensor '{}' ends at byte {} past the end of the data ({} bytes): file truncated?", path, name, end,
         data_size);
  }
  const std::uint64_t expected = numel * (dtype ? dtype_size(*dtype) : foreign);
  if (end - begin != expected) {
    fail("{}: tensor '{}' is {} {} = {} bytes but data_offsets span {} bytes", path, name, dtype_text, shape_str(shape),
         expected, end - begin);
  }
  return {name, dtype.value_or(DType::U8), dtype ? "" : dtype_text, std::move(shape), begin, end};
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(MappedFile::open(path)) {
  const std::size_t size = file_->size();
  if (size < 8) fail("{}: not a safetensors file: {} bytes, too short for the header length", path, size);
  std::uint64_t header_len;
  std::memcpy(&header_len, file_->data(), 8);  // little-endian, as is every host we target
  if (header_len > kMaxHeaderBytes) fail("{}: header length {} is implausible", path, header_len);
  if (header_len > size - 8) {
    fail("{}: header length {} runs past the end of the file ({} bytes): file truncated?", path, header_len, size);
  }
  data_start_ = 8 + header_len;
  const char* header_text = reinterpret_cast<const char*>(file_->data() + 8);
  json header = json::parse(header_text, header_text + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) fail("{}: header is not a JSON object", path);

  const std::size_t data_size = size - data_start_;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail("{}: __metadata__ is not an object", path);
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) fail("{}: __metadata__ value '{}' is not a string", path, k);
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    entries_.push_back(parse_entry(path, name, value, data_size));
  }
  // No two tensors may share bytes (empty tensors occupy none).
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : entries_) {
    if (e.end > e.begin) by_offset.push_back(&e);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      fail("{}: tensors '{}' and '{}' overlap", path, by_offset[i - 1]->name, by_offset[i]->name);
    }
  }
  std::sort(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
}

const std::string& SafetensorsFile::path() const { return file_->path(); }

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const SafetensorsEntry& e, const std::string& n) { return e.name < n; });
  return it != entries_.end() && it->name == name ? &*it : nullptr;
}

bool SafetensorsFile::contains(const std::string& name) const { return find(name) != nullptr; }

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (e == nullptr) fail("{}: no tensor named '{}'", path(), name);
  if (!e->foreign_dtype.empty()) {
    fail("{}: tensor '{}' has dtype '{}', which octet does not read", path(), name, e->foreign_dtype);
  }
  return Tensor::mapped(e->dtype, e->shape, file_, data_start_ + e->begin);
}

std::vector<std::int64_t> SafetensorsFile::integers(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (e == nullptr) fail("{}: no tensor named '{}'", path(), name);
  const std::uint8_t* bytes = file_->data() + data_start_ + e->begin;
  const std::size_t n = e->end - e->begin;
  std::vector<std::int64_t> out;
  if (e->foreign_dtype == "I64") {
    for (std::size_t i = 0; i < n; i += 8) {
      std::int64_t v;
      std::memcpy(&v, bytes + i, 8);
      out.push_back(v);
    }
  } else if (e->foreign_dtype.empty() && e->dtype == DType::I32) {
    for (std::size_t i = 0; i < n; i += 4) {
      std::int32_t v;
      std::memcpy(&v, bytes + i, 4);
      out.push_back(v);
    }
  } else if (e->foreign_dtype.empty() && e->dtype == DType::U8) {
    out.assign(bytes, bytes + n);
  } else {
    fail("{}: tensor '{}' is {}, not integers", path(), name,
         e->foreign_dtype.empty() ? std::string(dtype_name(e->dtype)) : e->foreign_dtype);
  }
  return out;
}

WeightStore WeightStore::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";
  if (fs::exists(index)) {
    std::ifstream in(index);
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      fail("{}: not a safetensors index (no weight_map object)", index.string());
    }
    std::set<std::string> shards;
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) fail("{}: weight_map['{}'] is not a file name", index.string(), name);
      const auto shard = file.get<std::string>();
      if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos) {
        fail("{}: shard name '{}' must be a plain file name", index.string(), shard);
      }
      shards.insert((fs::path(dir) / shard).string());
    }
    WeightStore store(std::vector<std::string>(shards.begin(), shards.end()));
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!store.contains(name)) {
        fail("{}: lists tensor '{}' in {} but that shard does not hold it", index.string(), name,
             file.get<std::string>());
      }
    }
    return store;
  }
  if (fs::exists(single)) return WeightStore({single.string()});
  fail("{}: no model.safetensors or model.safetensors.index.json", dir);
}

WeightStore::WeightStore(std::vector<std::string> files) {
  for (const auto& f : files) {
    files_.push_back(std::make_unique<SafetensorsFile>(f));
    for (const auto& e : files_.back()->entries()) {
      auto [it, inserted] = index_.emplace(e.name, files_.back().get());
      if (!inserted) fail("tensor '{}' appears in both {} and {}", e.name, it->second->path(), f);
    }
  }
  description_ = files.size() == 1 ? files[0] : fmt::format("{} safetensors shards", files.size());
  constexpr std::string_view kValues = ".compressed";
  for (const auto& [name, file] : index_) {
    if (!name.ends_with(kValues)) continue;
    const std::string base = name.substr(0, name.size() - kValues.size());
    if (!index_.contains(base + ".bitmask") || !index_.contains(base + ".shape")) continue;
    if (index_.contains(base + ".weight")) fail("{}: '{}' is stored both dense and compressed", file->path(), base);
    sparse24_.emplace(base + ".weight", base);
  }
}

bool WeightStore::contains(const std::string& name) const {
  return index_.count(name) != 0 || sparse24_.count(name) != 0;
}

const SafetensorsFile& WeightStore::file_of(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail("{}: missing tensor '{}'", description_, name);
  return *it->second;
}

Tensor WeightStore::get(const std::string& name) const {
  if (auto it = sparse24_.find(name); it != sparse24_.end()) {
    const std::string& base = it->second;
    const SafetensorsFile& file = file_of(base + ".shape");
    const std::vector<std::int64_t> shape = file.integers(base + ".shape");
    if (shape.size() != 2) fail("{}: '{}.shape' holds {} values, expected 2", file.path(), base, shape.size());
    const Tensor compressed = file_of(base + ".compressed").tensor(base + ".compressed");
    const Tensor bitmask = file_of(base + ".bitmask").tensor(base + ".bitmask");
    Tensor dense = decompress_sparse24_bitmask(compressed, bitmask, shape[0], shape[1],
                                               fmt::format("{}: '{}' (sparse-24-bitmask)", file.path(), base));
    // Read once, here: their pages go back (read again from the file if asked).
    compressed.release_file_pages();
    bitmask.release_file_pages();
    return dense;
  }
  return file_of(name).tensor(name);
}

Tensor WeightStore::get(const std::string& name, const Shape& expected) const {
  Tensor t = get(name);
  if (t.shape() != expected) {
    fail("{}: tensor '{}' has shape {}, expected {}", sparse24_.contains(name) ? describe() : file_of(name).path(),
         name, shape_str(t.shape()), shape_str(expected));
  }
  return t;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto& [name, file] : index_) out.push_back(name);
  for (const auto& [name, base] : sparse24_) out.push_back(name);
  return out;
}

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::size_t offset = 0;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || !seen.insert(name).second) {
      fail("{}: cannot write tensor name '{}' (reserved or repeated)", path, name);
    }
    header[name] = {
        {"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps tensor data 8-byte aligned
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot open for writing", tmp);
    const std::uint64_t len = text.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& nt : tensors) {
      out.write(static_cast<const char*>(nt.tensor.raw()), static_cast<std::streamsize>(nt.tensor.nbytes()));
    }
    out.flush();
    if (!out) fail("{}: write failed (disk full?)", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("{}: cannot rename from {}: {}", path, tmp, ec.message());
}

}  // namespace octet
