// Implementation of tlearn/detail/hdf5.hpp. Structures follow the HDF5 File Format
// Specification 3.0; only what h5py, Keras and libhdf5's defaults write is read.
#include <algorithm>
#include <cstring>
#include <set>

#include "tlearn/core/error.hpp"
#include "tlearn/detail/hdf5.hpp"

namespace tlearn::detail {

namespace {

constexpr std::uint64_t kUndefinedAddress = ~std::uint64_t{0};
// Bounds on what one file may make the reader do, far above any Keras model's.
constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t{1} << 28;  // object headers and heaps read, together
constexpr std::size_t kMaxContinuations = 4096;                   // blocks of one object header
constexpr int kMaxBtreeDepth = 64;
constexpr int kMaxRank = 32;

/// Bounds-checked little-endian reads from one structure's bytes; `where` names the
/// structure in errors.
class Cursor {
 public:
  Cursor(const std::uint8_t* data, std::size_t size, std::string where)
      : data_(data), size_(size), where_(std::move(where)) {}

  std::size_t pos() const { return pos_; }
  std::size_t left() const { return size_ - pos_; }
  void seek(std::size_t pos) {
    if (pos > size_) fail("ends early");
    pos_ = pos;
  }
  void skip(std::size_t n) {
    if (n > left()) fail("ends early");
    pos_ += n;
  }
  /// An unsigned value of `width` bytes (1 to 8).
  std::uint64_t u(int width) {
    if (width < 1 || width > 8 || static_cast<std::size_t>(width) > left()) fail("ends early");
    std::uint64_t v = 0;
    for (int i = 0; i < width; ++i) v |= std::uint64_t{data_[pos_ + i]} << (8 * i);
    pos_ += width;
    return v;
  }
  /// An address of `width` bytes; all bits set means "undefined".
  std::uint64_t address(int width) {
    const std::uint64_t v = u(width);
    return width < 8 && v == (std::uint64_t{1} << (8 * width)) - 1 ? kUndefinedAddress : v;
  }
  const std::uint8_t* take(std::size_t n) {
    if (n > left()) fail("ends early");
    const auto* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(where_ + " " + what); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::string where_;
};

std::string hex(std::uint64_t v) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(v));
  return buffer;
}

// Message types (section IV.A.2 of the specification).
enum : std::uint16_t {
  kDataspace = 0x01,
  kLinkInfo = 0x02,
  kDatatype = 0x03,
  kLink = 0x06,
  kLayout = 0x08,
  kAttribute = 0x0C,
  kContinuation = 0x10,
  kSymbolTable = 0x11,
  kAttributeInfo = 0x15,
};
constexpr std::uint8_t kSharedMessage = 0x02;

/// A dataspace message: the shape (a scalar has none, a null space no elements).
struct Dataspace {
  std::vector<std::int64_t> shape;
  std::int64_t count = 1;
  bool null = false;  // a null dataspace: no shape, no elements
};

Dataspace parse_dataspace(Cursor c, int length_size) {
  Dataspace space;
  const auto version = c.u(1);
  const auto rank = static_cast<int>(c.u(1));
  c.u(1);  // flags: maximum dimensions follow the sizes; unused here
  bool null_space = false;
  if (version == 1) {
    c.skip(5);
  } else if (version == 2) {
    null_space = c.u(1) == 2;
  } else {
    c.fail("has dataspace version " + std::to_string(version) + " (1 or 2 expected)");
  }
  if (rank > kMaxRank) c.fail("has " + std::to_string(rank) + " dimensions");
  // A null dataspace lists no dimensions; one that does would leave a shape
  // whose size disagrees with its zero elements.
  if (null_space && rank > 0) c.fail("is a null dataspace yet lists " + std::to_string(rank) + " dimensions");
  for (int i = 0; i < rank; ++i) {
    const auto d = c.u(length_size);
    if (d > (std::uint64_t{1} << 40) || (d > 0 && space.count > (std::int64_t{1} << 40) / std::int64_t(d)))
      c.fail("claims an impossible size");
    space.shape.push_back(static_cast<std::int64_t>(d));
    space.count *= static_cast<std::int64_t>(d);
  }
  if (null_space) {
    space.null = true;
    space.count = 0;
  }
  return space;
}

/// A datatype message, the classes Keras files hold: numbers, strings, and
/// variable-length strings.
struct Datatype {
  enum Class { Integer = 0, Float = 1, String = 3, VariableLength = 9 } kind = Integer;
  std::uint64_t size = 0;  // bytes per element in the file
  bool big_endian = false;
  bool is_signed = false;
  bool space_padded = false;  // fixed-length strings
  bool vlen_string = false;
};

Datatype parse_datatype(Cursor c) {
  Datatype t;
  const auto class_and_version = c.u(1);
  const auto bits = c.u(3);
  t.size = c.u(4);
  switch (class_and_version & 0x0F) {
    case 0:
      t.kind = Datatype::Integer;
      t.big_endian = bits & 1;
      t.is_signed = bits & 8;
      if (t.size != 1 && t.size != 2 && t.size != 4 && t.size != 8) c.fail("has an integer of " + std::to_string(t.size) + " bytes");
      break;
    case 1:
      t.kind = Datatype::Float;
      if (bits & 0x40) c.fail("has a VAX-ordered float");
      t.big_endian = bits & 1;
      if (t.size != 2 && t.size != 4 && t.size != 8) c.fail("has a float of " + std::to_string(t.size) + " bytes");
      break;
    case 3:
      t.kind = Datatype::String;
      t.space_padded = (bits & 0x0F) == 2;
      if (t.size == 0 || t.size > (1u << 20)) c.fail("has a string of " + std::to_string(t.size) + " bytes");
      break;
    case 9:
      t.kind = Datatype::VariableLength;
      t.vlen_string = (bits & 0x0F) == 1;
      break;
    default:
      c.fail("has a datatype of class " + std::to_string(class_and_version & 0x0F) +
             " (numbers and strings expected)");
  }
  return t;
}

/// Element i of raw number data as a double.
double number_at(const std::uint8_t* p, const Datatype& t) {
  std::uint8_t b[8];
  for (std::uint64_t i = 0; i < t.size; ++i) b[i] = p[t.big_endian ? t.size - 1 - i : i];
  std::uint64_t bits = 0;
  for (std::uint64_t i = 0; i < t.size; ++i) bits |= std::uint64_t{b[i]} << (8 * i);
  if (t.kind == Datatype::Float) {
    if (t.size == 8) {
      double d;
      std::memcpy(&d, &bits, 8);
      return d;
    }
    if (t.size == 4) {
      float f;
      const auto b32 = static_cast<std::uint32_t>(bits);
      std::memcpy(&f, &b32, 4);
      return f;
    }
    return static_cast<float>(c10::Half(static_cast<std::uint16_t>(bits), c10::Half::from_bits()));
  }
  if (t.is_signed && t.size < 8 && (bits >> (8 * t.size - 1)) & 1) bits |= ~std::uint64_t{0} << (8 * t.size);
  return t.is_signed ? static_cast<double>(static_cast<std::int64_t>(bits)) : static_cast<double>(bits);
}

}  // namespace

Hdf5Reader::Hdf5Reader(std::string name, std::uint64_t size, ReadAt read)
    : name_(std::move(name)), size_(size), read_(std::move(read)) {
  read_superblock();
}

void Hdf5Reader::fail(const std::string& what) const { throw Error(name_ + ": " + what); }

std::vector<std::uint8_t> Hdf5Reader::bytes(std::uint64_t address, std::uint64_t n, const std::string& what) const {
  if (address == kUndefinedAddress) fail(what + " has no address");
  const std::uint64_t at = base_ + address;
  if (at < base_ || at > size_ || n > size_ - at)
    fail(what + " at " + hex(address) + " (" + std::to_string(n) + " bytes) lies past the end of the file (" +
         std::to_string(size_) + " bytes); the file may be truncated");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(n));
  if (n > 0) read_(at, out.data(), n);
  return out;
}

void Hdf5Reader::read_superblock() {
  const auto head = bytes(0, std::min<std::uint64_t>(size_, 128), "the superblock");
  Cursor c(head.data(), head.size(), name_ + ": the superblock");
  if (head.size() < 9 || std::memcmp(head.data(), "\x89HDF\r\n\x1a\n", 8) != 0) fail("is not an HDF5 file");
  c.skip(8);
  const auto version = c.u(1);
  auto check_sizes = [&] {
    for (int s : {offset_size_, length_size_})
      if (s != 2 && s != 4 && s != 8) c.fail("gives a field size of " + std::to_string(s) + " bytes");
  };
  if (version <= 1) {
    c.skip(4);  // free-space, root entry and shared-message versions, reserved
    offset_size_ = static_cast<int>(c.u(1));
    length_size_ = static_cast<int>(c.u(1));
    check_sizes();
    c.skip(1 + 2 + 2 + 4 + (version == 1 ? 4 : 0));  // reserved, B-tree K values, flags
    base_ = c.u(offset_size_);
    c.skip(3 * static_cast<std::size_t>(offset_size_));  // free space, end of file, driver info
    c.skip(static_cast<std::size_t>(offset_size_));      // the root entry's link name offset
    root_ = c.address(offset_size_);
  } else if (version <= 3) {
    offset_size_ = static_cast<int>(c.u(1));
    length_size_ = static_cast<int>(c.u(1));
    check_sizes();
    c.skip(1);  // flags
    base_ = c.u(offset_size_);
    c.skip(2 * static_cast<std::size_t>(offset_size_));  // superblock extension, end of file
    root_ = c.address(offset_size_);
  } else {
    fail("has HDF5 superblock version " + std::to_string(version) + " (0 to 3 expected)");
  }
  if (base_ != 0) fail("has a user block (base address " + hex(base_) + "), which Keras files do not");
  if (root_ == kUndefinedAddress) fail("has no root group");
}

const Hdf5Reader::Header& Hdf5Reader::header(std::uint64_t address) {
  const auto cached = headers_.find(address);
  if (cached != headers_.end()) return *cached->second;
  auto h = std::make_unique<Header>();
  const std::string where = name_ + ": the object header at " + hex(address);
  // Blocks of messages: the header's first chunk, then each continuation block.
  struct Block {
    std::uint64_t address, length;
  };
  std::vector<Block> pending;
  std::set<std::uint64_t> seen;
  int version = 0;
  std::uint64_t messages_left = 0;  // version 1 says how many messages it holds
  bool creation_order = false;

  auto take_block = [&](std::uint64_t at, std::uint64_t n) {
    header_bytes_ += n;
    if (header_bytes_ > kMaxHeaderBytes) fail("object headers add up to more than 256 MiB; the file is corrupt");
    return bytes(at, n, "an object header block");
  };
  auto parse_messages = [&](Cursor& c, std::size_t end) {
    while (c.pos() < end) {
      if (version == 1) {
        if (messages_left == 0 || end - c.pos() < 8) break;
        --messages_left;
        Message m;
        m.type = static_cast<std::uint16_t>(c.u(2));
        const auto n = c.u(2);
        m.flags = static_cast<std::uint8_t>(c.u(1));
        c.skip(3);
        if (n > end - c.pos()) c.fail("has a message that runs past its block");
        const auto* p = c.take(n);
        m.data.assign(p, p + n);
        h->messages.push_back(std::move(m));
      } else {
        const std::size_t prefix = creation_order ? 6 : 4;
        if (end - c.pos() < prefix) break;  // the gap before the checksum
        Message m;
        m.type = static_cast<std::uint16_t>(c.u(1));
        const auto n = c.u(2);
        m.flags = static_cast<std::uint8_t>(c.u(1));
        if (creation_order) c.skip(2);
        if (n > end - c.pos()) c.fail("has a message that runs past its block");
        const auto* p = c.take(n);
        m.data.assign(p, p + n);
        h->messages.push_back(std::move(m));
      }
      const auto& m = h->messages.back();
      if (m.type == kContinuation) {
        Cursor mc(m.data.data(), m.data.size(), where + ": a continuation message");
        const auto at = mc.address(offset_size_);
        const auto n = mc.u(length_size_);
        if (seen.insert(at).second) pending.push_back({at, n});
        if (seen.size() > kMaxContinuations) fail("the object header at " + hex(address) + " has too many continuations");
      }
    }
  };

  auto first = bytes(address, std::min<std::uint64_t>(16 + 16 + 8, size_ - std::min(size_, base_ + address)),
                     "an object header");
  if (first.size() >= 4 && std::memcmp(first.data(), "OHDR", 4) == 0) {
    version = 2;
    Cursor c(first.data(), first.size(), where);
    c.skip(4);
    if (c.u(1) != 2) c.fail("has an unknown version");
    const auto flags = c.u(1);
    creation_order = flags & 0x04;
    if (flags & 0x20) c.skip(16);  // access, modification, change and birth times
    if (flags & 0x10) c.skip(4);   // attribute storage phase change values
    const auto chunk = c.u(1 << (flags & 3));
    if (chunk > size_) c.fail("claims a chunk larger than the file");
    const std::uint64_t start = c.pos();
    auto block = take_block(address, start + chunk);
    Cursor bc(block.data(), block.size(), where);
    bc.seek(static_cast<std::size_t>(start));
    parse_messages(bc, block.size());
  } else {
    Cursor c(first.data(), first.size(), where);
    version = static_cast<int>(c.u(1));
    if (version != 1) c.fail("has an unknown version " + std::to_string(version));
    c.skip(1);
    messages_left = c.u(2);
    c.skip(4);  // reference count
    const auto chunk = c.u(4);
    auto block = take_block(address, 16 + chunk);  // 12 bytes of header, aligned to 16
    Cursor bc(block.data(), block.size(), where);
    bc.seek(16);
    parse_messages(bc, block.size());
  }
  while (!pending.empty()) {
    const auto next = pending.back();
    pending.pop_back();
    auto block = take_block(next.address, next.length);
    Cursor bc(block.data(), block.size(), where + ": a continuation block");
    std::size_t end = block.size();
    if (version == 2) {
      if (block.size() < 8 || std::memcmp(block.data(), "OCHK", 4) != 0) bc.fail("has no OCHK signature");
      bc.skip(4);
      end -= 4;  // the checksum
    }
    parse_messages(bc, end);
  }
  return *headers_.emplace(address, std::move(h)).first->second;
}

const Hdf5Reader::Message* Hdf5Reader::find(const Header& h, std::uint16_t type) const {
  for (const auto& m : h.messages)
    if (m.type == type) {
      if (m.flags & kSharedMessage) fail("uses a shared message (type " + std::to_string(type) + "), which Keras files do not");
      return &m;
    }
  return nullptr;
}

bool Hdf5Reader::is_group(Object object) {
  const auto& h = header(object.address);
  return find(h, kSymbolTable) || find(h, kLinkInfo) || find(h, kLink);
}

void Hdf5Reader::walk_group_btree(std::uint64_t node, const std::vector<std::uint8_t>& heap, int depth,
                                  std::map<std::string, std::uint64_t>& out, std::set<std::uint64_t>& visited) {
  // Each node once: a tree whose nodes repeat (a cycle) could otherwise make the walk endless.
  if (depth > kMaxBtreeDepth) fail("a group's B-tree is deeper than " + std::to_string(kMaxBtreeDepth) + " levels");
  if (!visited.insert(node).second) fail("a group's B-tree reaches the node at " + hex(node) + " twice");
  const std::string where = name_ + ": the group B-tree node at " + hex(node);
  const std::uint64_t entry = 2 * std::uint64_t(offset_size_) + 8 + 16;  // a symbol table entry
  const auto head = bytes(node, 8 + 2 * std::uint64_t(offset_size_), "a group B-tree node");
  Cursor c(head.data(), head.size(), where);
  const auto* signature = c.take(4);
  if (std::memcmp(signature, "SNOD", 4) == 0) {  // a leaf: symbol table entries
    if (c.u(1) != 1) c.fail("has an unknown version");
    c.skip(1);
    const auto count = c.u(2);
    const auto all = bytes(node + 8, count * entry, "a symbol table node");
    Cursor e(all.data(), all.size(), name_ + ": the symbol table node at " + hex(node));
    for (std::uint64_t i = 0; i < count; ++i) {
      const auto name_offset = e.u(offset_size_);
      const auto object = e.address(offset_size_);
      e.skip(8 + 16);  // cache type, reserved, scratch pad
      if (name_offset >= heap.size()) e.fail("names a link past the end of its local heap");
      const char* s = reinterpret_cast<const char*>(heap.data()) + name_offset;
      const auto length = strnlen(s, heap.size() - name_offset);
      if (length == heap.size() - name_offset) e.fail("has a link name without its terminating zero");
      out[std::string(s, length)] = object;
    }
    return;
  }
  if (std::memcmp(signature, "TREE", 4) != 0) c.fail("is neither a TREE nor an SNOD node");
  if (c.u(1) != 0) c.fail("is not a group node");
  c.skip(1);  // level: children are nodes either way, told apart by their signature
  const auto entries = c.u(2);
  const std::uint64_t pair = std::uint64_t(length_size_) + offset_size_;
  const auto body = bytes(node + head.size(), entries * pair + length_size_, "a group B-tree node");
  Cursor b(body.data(), body.size(), where);
  for (std::uint64_t i = 0; i < entries; ++i) {
    b.skip(static_cast<std::size_t>(length_size_));  // key: a name's heap offset
    const auto child = b.address(offset_size_);
    walk_group_btree(child, heap, depth + 1, out, visited);
  }
}

void Hdf5Reader::collect_symbol_table(const Message& m, std::map<std::string, std::uint64_t>& out) {
  Cursor c(m.data.data(), m.data.size(), name_ + ": a symbol table message");
  const auto btree = c.address(offset_size_);
  const auto heap_address = c.address(offset_size_);
  const auto head = bytes(heap_address, 8 + 2 * std::uint64_t(length_size_) + offset_size_, "a local heap");
  Cursor h(head.data(), head.size(), name_ + ": the local heap at " + hex(heap_address));
  if (std::memcmp(h.take(4), "HEAP", 4) != 0) h.fail("has no HEAP signature");
  h.skip(4);
  const auto data_size = h.u(length_size_);
  h.skip(static_cast<std::size_t>(length_size_));  // free list
  const auto data_address = h.address(offset_size_);
  const auto heap = bytes(data_address, data_size, "a local heap's names");
  std::set<std::uint64_t> visited;
  walk_group_btree(btree, heap, 0, out, visited);
}

const std::map<std::string, std::uint64_t>& Hdf5Reader::link_table(Object group) {
  const auto cached = groups_.find(group.address);
  if (cached != groups_.end()) return cached->second;
  std::map<std::string, std::uint64_t> out;
  const auto& h = header(group.address);
  if (const auto* table = find(h, kSymbolTable)) collect_symbol_table(*table, out);
  if (const auto* info = find(h, kLinkInfo)) {
    Cursor c(info->data.data(), info->data.size(), name_ + ": a link info message");
    c.skip(1);
    const auto flags = c.u(1);
    if (flags & 1) c.skip(8);
    if (c.address(offset_size_) != kUndefinedAddress)
      fail("the group at " + hex(group.address) +
           " keeps its links in a fractal heap (dense link storage), which tlearn does not read; save the "
           "weights with Keras or h5py's default settings");
  }
  for (const auto& m : h.messages) {
    if (m.type != kLink) continue;
    Cursor c(m.data.data(), m.data.size(), name_ + ": a link message");
    if (c.u(1) != 1) c.fail("has an unknown version");
    const auto flags = c.u(1);
    const auto type = flags & 0x08 ? c.u(1) : 0;
    if (flags & 0x04) c.skip(8);  // creation order
    if (flags & 0x10) c.skip(1);  // character set
    const auto length = c.u(1 << (flags & 3));
    const auto* name = c.take(length);
    if (type != 0) continue;  // soft and external links point outside the file's objects
    out[std::string(reinterpret_cast<const char*>(name), length)] = c.address(offset_size_);
  }
  return groups_.emplace(group.address, std::move(out)).first->second;
}

std::optional<Hdf5Reader::Object> Hdf5Reader::child(Object group, const std::string& name) {
  const auto& table = link_table(group);
  const auto it = table.find(name);
  if (it == table.end()) return std::nullopt;
  if (it->second == kUndefinedAddress) fail("the link '" + name + "' points nowhere");
  return Object{it->second};
}

std::vector<std::string> Hdf5Reader::links(Object group) {
  std::vector<std::string> names;
  for (const auto& link : link_table(group)) names.push_back(link.first);
  return names;  // a std::map's order: byte-wise, as HDF5's name index
}

const Hdf5Reader::Message* Hdf5Reader::attribute_message(Object object, const std::string& name) {
  const auto& h = header(object.address);
  for (const auto& m : h.messages) {
    if (m.type != kAttribute) continue;
    Cursor c(m.data.data(), m.data.size(), name_ + ": an attribute message");
    const auto version = c.u(1);
    if (version < 1 || version > 3) c.fail("has an unknown version " + std::to_string(version));
    const auto flags = c.u(1);
    const auto name_size = c.u(2);
    c.u(2), c.u(2);  // datatype and dataspace sizes: read where they are used
    if (version == 3) c.skip(1);
    const auto* s = reinterpret_cast<const char*>(c.take(name_size));
    if (std::string(s, strnlen(s, name_size)) != name) continue;
    if (flags & 3) c.fail("'" + name + "' uses a shared datatype or dataspace, which Keras files do not");
    return &m;
  }
  if (const auto* info = find(h, kAttributeInfo)) {
    Cursor c(info->data.data(), info->data.size(), name_ + ": an attribute info message");
    c.skip(1);
    if (c.u(1) & 1) c.skip(2);
    if (c.address(offset_size_) != kUndefinedAddress)
      fail("the object at " + hex(object.address) +
           " keeps attributes in a fractal heap (dense attribute storage), which tlearn does not read; save the "
           "weights with Keras or h5py's default settings");
  }
  return nullptr;
}

bool Hdf5Reader::has_attribute(Object object, const std::string& name) {
  return attribute_message(object, name) != nullptr;
}

const std::vector<std::uint8_t>& Hdf5Reader::global_heap(std::uint64_t address) {
  const auto cached = heaps_.find(address);
  if (cached != heaps_.end()) return cached->second;
  const auto head = bytes(address, 8 + std::uint64_t(length_size_), "a global heap collection");
  Cursor c(head.data(), head.size(), name_ + ": the global heap collection at " + hex(address));
  if (std::memcmp(c.take(4), "GCOL", 4) != 0) c.fail("has no GCOL signature");
  c.skip(4);
  const auto size = c.u(length_size_);
  if (size < head.size()) c.fail("is smaller than its own header");
  header_bytes_ += size;
  if (header_bytes_ > kMaxHeaderBytes) fail("heaps and headers add up to more than 256 MiB; the file is corrupt");
  return heaps_.emplace(address, bytes(address, size, "a global heap collection")).first->second;
}

std::vector<std::string> Hdf5Reader::strings(Object object, const std::string& attribute) {
  const auto* m = attribute_message(object, attribute);
  if (!m) fail("has no attribute '" + attribute + "'");
  const std::string where = name_ + ": the attribute '" + attribute + "'";
  Cursor c(m->data.data(), m->data.size(), where);
  const auto version = c.u(1);
  c.skip(1);
  const auto name_size = c.u(2);
  const auto type_size = c.u(2);
  const auto space_size = c.u(2);
  if (version == 3) c.skip(1);
  auto padded = [&](std::uint64_t n) { return version == 1 ? (n + 7) / 8 * 8 : n; };
  c.skip(padded(name_size));
  const auto type_at = c.pos();
  c.skip(padded(type_size));
  const auto space_at = c.pos();
  c.skip(padded(space_size));
  const auto data_at = c.pos();
  const auto type = parse_datatype(Cursor(m->data.data() + type_at, type_size, where + "'s datatype"));
  const auto space = parse_dataspace(Cursor(m->data.data() + space_at, space_size, where + "'s dataspace"),
                                     length_size_);
  if (space.count == 0) return {};  // h5py writes an empty list as an empty float (or string) array
  const bool is_string = type.kind == Datatype::String || (type.kind == Datatype::VariableLength && type.vlen_string);
  if (!is_string) fail("the attribute '" + attribute + "' is not a list of strings");
  c.seek(data_at);
  std::vector<std::string> out;
  for (std::int64_t i = 0; i < space.count; ++i) {
    if (type.kind == Datatype::String) {
      const auto* s = reinterpret_cast<const char*>(c.take(type.size));
      std::string value(s, strnlen(s, type.size));
      if (type.space_padded) value.erase(value.find_last_not_of(' ') + 1);
      out.push_back(std::move(value));
      continue;
    }
    // A variable-length string: its length, then the global heap object holding it.
    const auto length = c.u(4);
    const auto collection = c.address(offset_size_);
    const auto index = c.u(4);
    if (length == 0) {
      out.emplace_back();
      continue;
    }
    const auto& heap = global_heap(collection);
    Cursor g(heap.data(), heap.size(), name_ + ": the global heap collection at " + hex(collection));
    g.skip(8 + static_cast<std::size_t>(length_size_));
    bool found = false;
    while (g.left() >= 8 + static_cast<std::size_t>(length_size_)) {
      const auto heap_object = g.u(2);
      g.skip(2 + 4);  // reference count, reserved
      const auto size = g.u(length_size_);
      if (heap_object == 0) break;  // free space: the collection's last object
      if (size > g.left()) g.fail("has an object that runs past the collection");
      const auto* data = g.take(size);
      g.skip(std::min<std::uint64_t>((8 - size % 8) % 8, g.left()));
      if (heap_object != index) continue;
      if (length > size) g.fail("has a string shorter than its reference says");
      out.emplace_back(reinterpret_cast<const char*>(data), length);
      found = true;
      break;
    }
    if (!found) fail("the attribute '" + attribute + "' refers to global heap object " + std::to_string(index) +
                     " that the collection at " + hex(collection) + " does not hold");
  }
  return out;
}

torch::Tensor Hdf5Reader::read_float(Object dataset) {
  const std::string where = name_ + ": the dataset at " + hex(dataset.address);
  const auto& h = header(dataset.address);
  const auto* space_message = find(h, kDataspace);
  const auto* type_message = find(h, kDatatype);
  const auto* layout = find(h, kLayout);
  if (!space_message || !type_message || !layout) throw Error(where + " is not a dataset");
  const auto space = parse_dataspace(Cursor(space_message->data.data(), space_message->data.size(), where),
                                     length_size_);
  const auto type = parse_datatype(Cursor(type_message->data.data(), type_message->data.size(), where));
  if (type.kind != Datatype::Float && type.kind != Datatype::Integer) throw Error(where + " is not numeric");
  if (space.null) throw Error(where + " holds no values (a null dataspace); a weight needs a shape");
  const std::uint64_t needed = static_cast<std::uint64_t>(space.count) * type.size;

  std::vector<std::uint8_t> raw;
  Cursor c(layout->data.data(), layout->data.size(), where + "'s layout");
  const auto version = c.u(1);
  std::uint64_t layout_class = 0;
  if (version == 1 || version == 2) {
    const auto rank = c.u(1);
    layout_class = c.u(1);
    c.skip(5);
    const auto address = layout_class == 0 ? kUndefinedAddress : c.address(offset_size_);
    c.skip(rank * 4);
    if (layout_class == 0) {
      const auto n = c.u(4);
      if (n < needed) c.fail("holds fewer bytes than its shape needs");
      const auto* p = c.take(needed);
      raw.assign(p, p + needed);
    } else if (layout_class == 1) {
      raw = bytes(address, needed, "the data of " + where.substr(name_.size() + 2));
    }
  } else if (version == 3 || version == 4) {
    layout_class = c.u(1);
    if (layout_class == 0) {
      const auto n = c.u(2);
      if (n < needed) c.fail("holds fewer bytes than its shape needs");
      const auto* p = c.take(needed);
      raw.assign(p, p + needed);
    } else if (layout_class == 1) {
      const auto address = c.address(offset_size_);
      const auto n = c.u(length_size_);
      if (address == kUndefinedAddress && needed > 0)
        throw Error(where + " was never written (it has no data)");
      if (n < needed) c.fail("holds fewer bytes than its shape needs");
      if (needed > 0) raw = bytes(address, needed, "the data of " + where.substr(name_.size() + 2));
    }
  } else {
    c.fail("has an unknown version " + std::to_string(version));
  }
  if (layout_class > 1)
    throw Error(where + " is stored in chunks (perhaps compressed), which tlearn does not read; Keras writes "
                        "weights contiguously");

  auto tensor = torch::empty(space.shape, torch::kFloat);
  auto* out = tensor.data_ptr<float>();
  if (type.kind == Datatype::Float && type.size == 4 && !type.big_endian) {
    if (needed > 0) std::memcpy(out, raw.data(), needed);
  } else {
    for (std::int64_t i = 0; i < space.count; ++i)
      out[i] = static_cast<float>(number_at(raw.data() + static_cast<std::size_t>(i) * type.size, type));
  }
  return tensor;
}

}  // namespace tlearn::detail
