// Implementation of tlearn/io/pth.hpp.
#include "tlearn/io/pth.hpp"

namespace tlearn::io::detail {

std::uint64_t storage_bytes(const BinaryFile& file, std::int64_t numel, c10::ScalarType dtype, std::uint64_t limit,
                            const std::string& key) {
  const std::uint64_t es = static_cast<std::uint64_t>(element_size(dtype));
  if (numel < 0 || static_cast<std::uint64_t>(numel) > limit / es)
    throw Error(file.name() + ": storage " + key + " declares " + std::to_string(numel) +
                " elements, more than the file can hold (truncated or corrupt checkpoint)");
  return static_cast<std::uint64_t>(numel) * es;
}

StorageId parse_storage_id(const BinaryFile& file, const PyRef& pid) {
  using K = PyValue::Kind;
  const auto& a = pid->items;
  if (pid->kind != K::Tuple || a.size() < 5 || a[0]->kind != K::Str || a[0]->s != "storage" ||
      a[1]->kind != K::Global || a[2]->kind != K::Str || a[4]->kind != K::Int)
    throw Error(file.name() + ": malformed storage reference in the pickle (corrupt checkpoint)");
  StorageId id;
  if (!storage_dtype(a[1]->s, id.dtype)) throw Error(file.name() + ": " + a[1]->s + " is not a storage type");
  id.key = a[2]->s;
  id.numel = a[4]->i;
  if (a.size() > 5) id.view = a[5];
  return id;
}

PyRef storage_value(const torch::Tensor& flat, std::int64_t offset) {
  auto v = py_make(PyValue::Kind::Storage);
  v->tensor = flat;
  v->i = offset;
  return v;
}

StateDict extract_state_dict(const BinaryFile& file, const PyRef& root) {
  using K = PyValue::Kind;
  auto as_state_dict = [](const PyRef& v, StateDict& out) {
    if (v->kind != K::Dict) return false;
    StateDict sd;
    for (const auto& [k, t] : v->dict) {
      if (k->kind != K::Str || t->kind != K::Tensor) return false;
      if (sd.contains(k->s)) return false;
      sd.insert(k->s, t->tensor);
    }
    out = std::move(sd);
    return true;
  };
  StateDict out;
  if (as_state_dict(root, out)) return out;
  if (root->kind == K::Dict) {
    for (const char* wrapper : {"state_dict", "model", "model_state_dict"})
      for (const auto& [k, v] : root->dict)
        if (k->kind == K::Str && k->s == wrapper && as_state_dict(v, out)) return out;
    std::string keys;
    for (const auto& kv : root->dict)
      if (kv.first->kind == K::Str) keys += (keys.empty() ? "" : ", ") + kv.first->s;
    throw Error(file.name() + ": holds no state dict: the top-level dict has keys [" + keys +
                "] and is neither name -> tensor nor has a \"state_dict\" or \"model\" entry that is");
  }
  throw Error(file.name() + ": holds no state dict (the pickled object is not a dict)");
}

StateDict load_pth_zip(BinaryFile& file) {
  ZipReader zip(file);
  const ZipEntry* pkl = nullptr;
  std::string archive;
  for (const auto& e : zip.entries()) {
    const auto slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") {
      pkl = &e;
      archive = e.name.substr(0, slash);
      break;
    }
  }
  if (!pkl) throw Error(file.name() + ": a zip file without <archive>/data.pkl is not a torch.save checkpoint");
  std::map<std::string, torch::Tensor> storages;
  auto persistent_load = [&](const PyRef& pid) {
    const StorageId id = parse_storage_id(file, pid);
    auto it = storages.find(id.key);
    if (it == storages.end()) {
      const ZipEntry* rec = zip.find(archive + "/data/" + id.key);
      if (!rec) throw Error(file.name() + ": storage record " + archive + "/data/" + id.key + " is missing");
      const std::uint64_t nbytes = storage_bytes(file, id.numel, id.dtype, rec->size, id.key);
      if (nbytes != rec->size)
        throw Error(file.name() + ": storage record " + rec->name + " holds " + std::to_string(rec->size) +
                    " bytes but the pickle declares " + std::to_string(nbytes) + " (corrupt checkpoint)");
      it = storages.emplace(id.key, file.tensor_at(rec->data_offset, id.numel, id.dtype, "storage " + rec->name)).first;
    } else if (it->second.scalar_type() != id.dtype || it->second.numel() != id.numel) {
      throw Error(file.name() + ": storage " + id.key + " is referenced with two different types or sizes");
    }
    return storage_value(it->second);
  };
  PickleInput in(file, pkl->data_offset, pkl->data_offset + pkl->size, pkl->name);
  Unpickler unpickler(in, persistent_load);
  return extract_state_dict(file, unpickler.load());
}

StateDict load_pth_legacy(BinaryFile& file) {
  using K = PyValue::Kind;
  std::uint64_t pos = 0;
  auto next = [&](const std::string& what, const Unpickler::PersistentLoad& pl) {
    PickleInput in(file, pos, file.size(), what);
    Unpickler u(in, pl);
    auto v = u.load();
    pos = in.position();
    return v;
  };
  auto no_persistent = [&](const PyRef&) -> PyRef {
    throw Error(file.name() + ": unexpected storage reference in the legacy header (corrupt checkpoint)");
  };
  // 0x1950a86a20f9469cfc6c, the legacy magic number, as LONG1 bytes.
  static const unsigned char magic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  auto m = next("magic number", no_persistent);
  if (m->kind != K::BigInt || m->s != std::string(reinterpret_cast<const char*>(magic), sizeof magic))
    throw Error(file.name() + ": not a torch.save checkpoint (wrong magic number)");
  auto proto = next("protocol version", no_persistent);
  if (proto->kind != K::Int || proto->i != 1001)
    throw Error(file.name() + ": unsupported legacy protocol version (expected 1001)");
  auto sys_info = next("sys_info", no_persistent);
  if (sys_info->kind == K::Dict)
    for (const auto& [k, v] : sys_info->dict)
      if (k->kind == K::Str && k->s == "little_endian" && v->kind == K::Bool && !v->i)
        throw Error(file.name() + ": was saved on a big-endian machine; save it again on a little-endian one");

  std::map<std::string, torch::Tensor> storages;
  std::map<std::string, PyRef> views;
  std::uint64_t declared = 0;
  auto persistent_load = [&](const PyRef& pid) -> PyRef {
    const StorageId id = parse_storage_id(file, pid);
    auto it = storages.find(id.key);
    if (it == storages.end()) {
      declared += storage_bytes(file, id.numel, id.dtype, file.size() - declared, id.key);
      it = storages.emplace(id.key, torch::empty({id.numel}, torch::TensorOptions().dtype(id.dtype))).first;
    }
    if (!id.view || id.view->kind == K::None) return storage_value(it->second);
    const auto& v = id.view->items;
    if (id.view->kind != K::Tuple || v.size() != 3 || v[0]->kind != K::Str || v[1]->kind != K::Int ||
        v[2]->kind != K::Int || v[1]->i < 0 || v[2]->i < 0 || v[1]->i > it->second.numel() - v[2]->i)
      throw Error(file.name() + ": malformed storage view of " + id.key + " (corrupt checkpoint)");
    auto& view = views[v[0]->s];
    if (!view) view = storage_value(it->second.narrow(0, 0, v[1]->i + v[2]->i), v[1]->i);
    return view;
  };
  auto root = next("checkpoint pickle", persistent_load);
  auto keys = next("storage key list", no_persistent);
  if (keys->kind != K::List) throw Error(file.name() + ": storage key list is not a list (corrupt checkpoint)");
  if (keys->items.size() != storages.size())
    throw Error(file.name() + ": the storage key list names " + std::to_string(keys->items.size()) +
                " storages but the pickle uses " + std::to_string(storages.size()) + " (corrupt checkpoint)");
  std::map<std::string, bool> filled;
  for (const auto& k : keys->items) {
    if (k->kind != K::Str || !storages.count(k->s) || filled[k->s])
      throw Error(file.name() + ": storage key list names an unknown or repeated storage (corrupt checkpoint)");
    filled[k->s] = true;
    auto& flat = storages[k->s];
    std::int64_t count = 0;
    file.read_at(pos, &count, 8, "element count of storage " + k->s);
    pos += 8;
    if (count != flat.numel())
      throw Error(file.name() + ": storage " + k->s + " holds " + std::to_string(count) +
                  " elements but the pickle declares " + std::to_string(flat.numel()) + " (corrupt checkpoint)");
    const std::uint64_t nbytes = static_cast<std::uint64_t>(flat.nbytes());
    file.read_at(pos, flat.data_ptr(), nbytes, "data of storage " + k->s);
    pos += nbytes;
  }
  return extract_state_dict(file, root);
}

}  // namespace tlearn::io::detail

namespace tlearn::io {

StateDict load_pth(const std::filesystem::path& path) {
  detail::BinaryFile file(path);
  unsigned char head[4] = {0, 0, 0, 0};
  if (file.size() < 4) throw Error(path.string() + ": too short to be a torch.save checkpoint");
  file.read_at(0, head, 4, "file header");
  if (head[0] == 'P' && head[1] == 'K') return detail::load_pth_zip(file);
  if (head[0] == 0x80 && head[2] == 0x8a) return detail::load_pth_legacy(file);
  throw Error(path.string() + ": not a torch.save checkpoint (it starts with neither a zip header nor a pickle)");
}

void save_pth(const StateDict& state, const std::filesystem::path& path) {
  detail::require_little_endian();
  detail::StateDictPickler pickler;
  std::vector<torch::Tensor> data;
  data.reserve(state.size());
  for (const auto& item : state) {
    if (!item.value().defined())
      throw Error(path.string() + ": cannot save \"" + item.key() + "\": the tensor is undefined");
    auto t = item.value().detach().to(torch::kCPU).contiguous();
    pickler.add(item.key(), std::to_string(data.size()), t.scalar_type(), t.sizes().vec());
    data.push_back(t);
  }
  const std::string pkl = pickler.finish();
  detail::write_atomically(path, [&](std::ofstream& out) {
    detail::ZipWriter zip(out);
    zip.add("archive/data.pkl", pkl.data(), pkl.size());
    zip.add("archive/byteorder", "little", 6);
    for (std::size_t i = 0; i < data.size(); ++i)
      zip.add("archive/data/" + std::to_string(i), data[i].data_ptr(), data[i].nbytes());
    zip.add("archive/version", "3\n", 2);
    zip.finish();
  });
}

}  // namespace tlearn::io
