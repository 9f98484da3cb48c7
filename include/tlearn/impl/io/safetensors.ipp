// Implementation of tlearn/io/safetensors.hpp.
#include <nlohmann/json.hpp>

#include <unordered_set>

#include "tlearn/io/safetensors.hpp"

namespace tlearn::io::detail {

SafetensorsHeader read_safetensors_header(tlearn::detail::BinaryFile& file) {
  const std::string name = file.name();
  auto bad = [&](const std::string& what) { return Error(name + ": invalid safetensors file: " + what); };
  if (file.size() < 8) throw bad("shorter than the 8-byte header length");
  std::uint64_t n = 0;
  file.read_at(0, &n, 8, "safetensors header length");
  if (n > file.size() - 8)
    throw bad("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(file.size()) +
              " bytes); the file is truncated");
  if (n > kMaxSafetensorsHeader) throw bad("header of " + std::to_string(n) + " bytes is too large");
  const std::string text = file.read_string(8, n, "safetensors header");
  // nlohmann::json (a std::map) rather than ordered_json, whose inserts are linear:
  // tensors are put in data order below anyway. The callback refuses a key that
  // appears twice in one object (JSON readers differ on which copy wins) and
  // bounds the number of keys.
  std::vector<std::unordered_set<std::string>> open_objects;
  std::size_t keys = 0;
  const nlohmann::json::parser_callback_t check_keys = [&](int, nlohmann::json::parse_event_t event,
                                                           nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) open_objects.emplace_back();
    if (event == Event::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == Event::key) {
      if (++keys > kMaxSafetensorsKeys)
        throw bad("header has more than " + std::to_string(kMaxSafetensorsKeys) + " keys");
      if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second)
        throw bad("key \"" + parsed.get<std::string>() + "\" appears twice in one object");
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, check_keys);
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw bad("header is not a JSON object");
  SafetensorsHeader out;
  out.data_start = 8 + n;
  const std::uint64_t data_size = file.size() - out.data_start;
  for (const auto& item : header.items()) {
    const std::string& key = item.key();  // not a structured binding: lambdas below capture it (C++17)
    const auto& value = item.value();
    if (key == "__metadata__") {
      if (!value.is_object()) throw bad("__metadata__ is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) throw bad("__metadata__ value \"" + mk + "\" is not a string");
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    auto bad_key = [&](const std::string& what) { return bad("tensor \"" + key + "\": " + what); };
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets"))
      throw bad_key("needs dtype, shape and data_offsets");
    SafetensorsEntry e;
    e.name = key;
    const auto& dt = value["dtype"];
    if (!dt.is_string()) throw bad_key("dtype is not a string");
    const auto& types = safetensors_dtypes();
    auto t = std::find_if(types.begin(), types.end(), [&](const auto& x) { return dt.get<std::string>() == x.name; });
    if (t == types.end()) throw bad_key("dtype " + dt.get<std::string>() + " is not supported by tlearn");
    e.dtype = t->dtype;
    const auto& shape = value["shape"];
    if (!shape.is_array()) throw bad_key("shape is not an array");
    // The element count, as torch will compute it: the product of the non-zero
    // sizes must fit in int64 even when another size is zero.
    std::uint64_t nonzero = 1;
    bool has_zero = false;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) throw bad_key("shape holds something other than a non-negative integer");
      const std::uint64_t v = d.get<std::uint64_t>();
      if (v == 0) has_zero = true;
      else if (nonzero > std::uint64_t(INT64_MAX) / v) throw bad_key("shape's element count overflows int64");
      else nonzero *= v;
      e.shape.push_back(static_cast<std::int64_t>(v));
    }
    const std::uint64_t numel = has_zero ? 0 : nonzero;
    e.numel = static_cast<std::int64_t>(numel);
    const auto& off = value["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad_key("data_offsets is not [begin, end]");
    e.begin = off[0].get<std::uint64_t>();
    e.end = off[1].get<std::uint64_t>();
    if (e.begin > e.end || e.end > data_size)
      throw bad_key("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                    "] lie outside the data section of " + std::to_string(data_size) + " bytes");
    const std::uint64_t es = c10::elementSize(e.dtype);
    if ((numel != 0 && numel > UINT64_MAX / es) || numel * es != e.end - e.begin)
      throw bad_key("shape and dtype need a different byte length than data_offsets give (" +
                    std::to_string(e.end - e.begin) + " bytes)");
    out.entries.push_back(std::move(e));
  }
  std::stable_sort(out.entries.begin(), out.entries.end(),
                   [](const auto& a, const auto& b) { return a.begin < b.begin; });
  std::uint64_t expected = 0;
  for (const auto& e : out.entries) {
    if (e.begin != expected)
      throw bad("tensor \"" + e.name + "\" starts at byte " + std::to_string(e.begin) + ", expected " +
                std::to_string(expected) + " (tensors must be contiguous, without gaps or overlaps)");
    expected = e.end;
  }
  if (expected != data_size)
    throw bad("the tensors cover " + std::to_string(expected) + " bytes but the data section holds " +
              std::to_string(data_size));
  return out;
}

const char* safetensors_dtype_name(c10::ScalarType dtype, const std::string& key, const std::filesystem::path& path) {
  for (const auto& t : safetensors_dtypes())
    if (t.dtype == dtype) return t.name;
  throw Error(path.string() + ": cannot save \"" + key + "\": dtype " + c10::toString(dtype) +
              " has no safetensors name supported by tlearn");
}

}  // namespace tlearn::io::detail

namespace tlearn::io {

StateDict load_safetensors(const std::filesystem::path& path) {
  tlearn::detail::BinaryFile file(path);
  const auto header = detail::read_safetensors_header(file);
  StateDict out;
  for (const auto& e : header.entries) {
    out.insert(e.name, file.tensor_at(header.data_start + e.begin, e.numel, e.dtype, "tensor " + e.name).view(e.shape));
  }
  return out;
}

std::map<std::string, std::string> safetensors_metadata(const std::filesystem::path& path) {
  tlearn::detail::BinaryFile file(path);
  return detail::read_safetensors_header(file).metadata;
}

void save_safetensors(const StateDict& state, const std::filesystem::path& path,
                      const std::map<std::string, std::string>& metadata) {
  tlearn::detail::require_little_endian();
  nlohmann::json header = nlohmann::json::object();  // a std::map: linear inserts would make big headers quadratic
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  std::uint64_t offset = 0;
  for (const auto& item : state) {
    if (item.key() == "__metadata__") throw Error(path.string() + ": \"__metadata__\" cannot name a tensor");
    if (!item.value().defined())
      throw Error(path.string() + ": cannot save \"" + item.key() + "\": the tensor is undefined");
    auto t = item.value().detach().to(torch::kCPU).contiguous();
    const char* dtype = detail::safetensors_dtype_name(t.scalar_type(), item.key(), path);
    const std::uint64_t n = t.nbytes();
    header[item.key()] = {{"dtype", dtype}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
    data.push_back(t);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned
  tlearn::detail::write_atomically(path, [&](std::ofstream& out) {
    const std::uint64_t n = text.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : data)
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  });
}

}  // namespace tlearn::io
