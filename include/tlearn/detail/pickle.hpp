#pragma once
/// \file
/// A restricted unpickler for torch.save files, and the matching pickle writer.
///
/// Only the opcodes a state dict uses are understood, and only the globals that
/// rebuild tensors (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
/// torch._utils._rebuild_parameter, torch.<Type>Storage) may be named; any other
/// global (os.system, builtins.eval, ...) is refused before anything runs.

#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tlearn/detail/file.hpp"

namespace tlearn::detail {

/// The Python objects a checkpoint pickle may build.
struct PyValue {
  enum class Kind { None, Bool, Int, BigInt, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };
  Kind kind = Kind::None;
  std::int64_t i = 0;          // Bool, Int; Storage: element offset into `tensor`
  double f = 0;                // Float
  std::string s;               // Str; Global: "module.name"; BigInt: raw little-endian bytes
  std::vector<std::shared_ptr<PyValue>> items;                                  // Tuple, List
  std::vector<std::pair<std::shared_ptr<PyValue>, std::shared_ptr<PyValue>>> dict;  // Dict (ordered)
  torch::Tensor tensor;        // Tensor; Storage: the flat storage

  PyValue() = default;
  PyValue(const PyValue&) = delete;
  PyValue& operator=(const PyValue&) = delete;
  /// Frees nested containers with a work list, not recursion, so a hostile
  /// pickle nesting a million tuples cannot overflow the stack.
  ~PyValue() {
    std::vector<std::shared_ptr<PyValue>> work;
    auto take = [&work](PyValue& v) {
      for (auto& x : v.items) work.push_back(std::move(x));
      for (auto& kv : v.dict) {
        work.push_back(std::move(kv.first));
        work.push_back(std::move(kv.second));
      }
      v.items.clear();
      v.dict.clear();
    };
    take(*this);
    while (!work.empty()) {
      auto v = std::move(work.back());
      work.pop_back();
      if (v && v.use_count() == 1) take(*v);
    }
  }
};
using PyRef = std::shared_ptr<PyValue>;

inline PyRef py_make(PyValue::Kind k) {
  auto v = std::make_shared<PyValue>();
  v->kind = k;
  return v;
}

/// Storage class name (torch.FloatStorage) <-> dtype.
struct StorageType {
  const char* name;
  c10::ScalarType dtype;
};
inline const std::vector<StorageType>& storage_types() {
  static const std::vector<StorageType> types = {
      {"FloatStorage", torch::kFloat32}, {"DoubleStorage", torch::kFloat64},
      {"HalfStorage", torch::kFloat16},  {"BFloat16Storage", torch::kBFloat16},
      {"LongStorage", torch::kInt64},    {"IntStorage", torch::kInt32},
      {"ShortStorage", torch::kInt16},   {"CharStorage", torch::kInt8},
      {"ByteStorage", torch::kUInt8},    {"BoolStorage", torch::kBool}};
  return types;
}

/// dtype of "torch.FloatStorage"; false if the name is no storage class.
inline bool storage_dtype(const std::string& global, c10::ScalarType& out) {
  for (const auto& t : storage_types())
    if (global == std::string("torch.") + t.name) {
      out = t.dtype;
      return true;
    }
  return false;
}

inline std::string storage_class(c10::ScalarType dtype) {
  for (const auto& t : storage_types())
    if (t.dtype == dtype) return t.name;
  throw Error(std::string("tlearn: dtype ") + c10::toString(dtype) + " cannot be saved to a .pth file");
}

/// Reads one pickle from [begin, end) of a file through a small buffer.
class PickleInput {
 public:
  PickleInput(BinaryFile& file, std::uint64_t begin, std::uint64_t end, std::string what)
      : file_(file), pos_(begin), end_(end), what_(std::move(what)) {
    file_.check_range(begin, end - begin, what_);
  }

  std::uint64_t position() const { return pos_; }
  /// The file name, for error messages.
  std::string name() const { return file_.name(); }

  void read(void* dst, std::uint64_t n) {
    if (n > end_ - pos_) truncated();
    auto* out = static_cast<char*>(dst);
    while (n > 0) {
      if (pos_ < buf_begin_ || pos_ >= buf_begin_ + buf_.size()) refill();
      const std::uint64_t at = pos_ - buf_begin_;
      const std::uint64_t take = std::min<std::uint64_t>(n, buf_.size() - at);
      std::memcpy(out, buf_.data() + at, static_cast<std::size_t>(take));
      out += take;
      pos_ += take;
      n -= take;
    }
  }

  std::string read_string(std::uint64_t n) {
    if (n > end_ - pos_) truncated();
    std::string s(static_cast<std::size_t>(n), '\0');
    read(s.data(), n);
    return s;
  }

  unsigned char byte() {
    unsigned char b;
    read(&b, 1);
    return b;
  }

  template <class T>
  T le() {
    unsigned char b[sizeof(T)];
    read(b, sizeof(T));
    return read_le<T>(b);
  }

  std::string line() {
    std::string s;
    for (;;) {
      const char c = static_cast<char>(byte());
      if (c == '\n') return s;
      if (s.size() > 256) throw Error(file_.name() + ": " + what_ + ": GLOBAL name too long (corrupt pickle)");
      s += c;
    }
  }

  [[noreturn]] void truncated() const {
    throw Error(file_.name() + ": " + what_ + " is truncated (the pickle ends before its STOP opcode)");
  }

 private:
  void refill() {
    buf_begin_ = pos_;
    const std::uint64_t n = std::min<std::uint64_t>(end_ - pos_, 1 << 16);
    buf_.resize(static_cast<std::size_t>(n));
    file_.read_at(pos_, buf_.data(), n, what_);
  }

  BinaryFile& file_;
  std::uint64_t pos_, end_;
  std::string what_;
  std::string buf_;
  std::uint64_t buf_begin_ = 0;
};

/// Checks that sizes/strides/offset address only elements inside a storage of
/// `numel` elements, so set_() can never view memory it does not own.
inline void check_view(const std::string& where, std::int64_t numel, std::int64_t offset,
                       const std::vector<std::int64_t>& sizes, const std::vector<std::int64_t>& strides) {
  if (sizes.size() != strides.size())
    throw Error(where + ": tensor has " + std::to_string(sizes.size()) + " sizes but " +
                std::to_string(strides.size()) + " strides (corrupt checkpoint)");
  if (offset < 0) throw Error(where + ": negative storage offset (corrupt checkpoint)");
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::int64_t last = offset;  // index of the last element addressed
  bool empty = false;
  for (std::size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] < 0 || strides[d] < 0) throw Error(where + ": negative size or stride (corrupt checkpoint)");
    if (sizes[d] == 0) empty = true;
  }
  // torch counts the elements with overflow checks of its own (and throws its own
  // error): count them here first, zero sizes aside.
  std::int64_t elements = 1;
  for (const std::int64_t size : sizes)
    if (size != 0) {
      if (elements > max / size) throw Error(where + ": tensor sizes overflow (corrupt checkpoint)");
      elements *= size;
    }
  if (empty) return;
  // Zero strides repeat storage elements; fine for a broadcast buffer, not for 2^40 of them.
  if (elements > numel && elements > (std::int64_t(1) << 30))
    throw Error(where + ": a view of " + std::to_string(elements) + " elements over a storage of " +
                std::to_string(numel) + " (zero strides); refusing it, as using it would need " +
                "that many elements of memory (corrupt or hostile checkpoint?)");
  for (std::size_t d = 0; d < sizes.size(); ++d) {
    const std::int64_t span = sizes[d] - 1;
    if (strides[d] != 0 && span > (max - last) / strides[d])
      throw Error(where + ": tensor sizes overflow (corrupt checkpoint)");
    last += span * strides[d];
  }
  if (last >= numel)
    throw Error(where + ": tensor view reaches element " + std::to_string(last) + " of a storage with " +
                std::to_string(numel) + " elements (corrupt checkpoint)");
}

/// The restricted unpickler. `persistent_load` turns a BINPERSID id into a
/// Storage value; everything else is built here.
class Unpickler {
 public:
  using PersistentLoad = std::function<PyRef(const PyRef& pid)>;

  Unpickler(PickleInput& in, PersistentLoad persistent_load)
      : in_(in), persistent_load_(std::move(persistent_load)) {}

  PyRef load() {
    for (;;) {
      const unsigned char op = in_.byte();
      switch (op) {
        case 0x80: in_.byte(); break;                                     // PROTO
        case 0x95: in_.le<std::uint64_t>(); break;                        // FRAME (protocol 4)
        case '.': return pop();                                           // STOP
        case '(': count(), marks_.push_back(stack_.size()); break;        // MARK
        case 'N': push(py_make(PyValue::Kind::None)); break;
        case 0x88: push(boolean(true)); break;                            // NEWTRUE
        case 0x89: push(boolean(false)); break;                           // NEWFALSE
        case 'K': push(integer(in_.byte())); break;                       // BININT1
        case 'M': push(integer(in_.le<std::uint16_t>())); break;          // BININT2
        case 'J': push(integer(in_.le<std::int32_t>())); break;           // BININT
        case 0x8a: push(long1(in_.byte())); break;                        // LONG1
        case 'G': push(binfloat()); break;                                // BINFLOAT
        case 'X': push(str(in_.le<std::uint32_t>())); break;              // BINUNICODE
        case 0x8c: push(str(in_.byte())); break;                          // SHORT_BINUNICODE
        case 'T': push(str(in_.le<std::uint32_t>())); break;              // BINSTRING
        case 'U': push(str(in_.byte())); break;                           // SHORT_BINSTRING
        case 'B': push(str(in_.le<std::uint32_t>())); break;              // BINBYTES
        case 'C': push(str(in_.byte())); break;                           // SHORT_BINBYTES
        case '}': push(py_make(PyValue::Kind::Dict)); break;              // EMPTY_DICT
        case ']': push(py_make(PyValue::Kind::List)); break;              // EMPTY_LIST
        case ')': push(py_make(PyValue::Kind::Tuple)); break;             // EMPTY_TUPLE
        case 't': push(tuple(pop_mark())); break;                         // TUPLE
        case 0x85: push(tuple(pop_n(1))); break;                          // TUPLE1
        case 0x86: push(tuple(pop_n(2))); break;                          // TUPLE2
        case 0x87: push(tuple(pop_n(3))); break;                          // TUPLE3
        case 'a': { auto v = pop(); list(top())->items.push_back(v); break; }  // APPEND
        case 'e': { auto vs = pop_mark(); auto l = list(top());          // APPENDS
                    l->items.insert(l->items.end(), vs.begin(), vs.end()); break; }
        case 's': { auto v = pop(); auto k = pop(); dict(top())->dict.emplace_back(k, v); break; }  // SETITEM
        case 'u': { auto vs = pop_mark();                                 // SETITEMS
                    if (vs.size() % 2) fail("SETITEMS with an odd number of items");
                    auto d = dict(top());
                    for (std::size_t k = 0; k < vs.size(); k += 2) d->dict.emplace_back(vs[k], vs[k + 1]);
                    break; }
        case 'q': count(), memo_[in_.byte()] = top(); break;              // BINPUT
        case 'r': count(), memo_[in_.le<std::uint32_t>()] = top(); break; // LONG_BINPUT
        case 0x94: count(), memo_[static_cast<std::uint32_t>(memo_.size())] = top(); break;  // MEMOIZE
        case 'h': push(get(in_.byte())); break;                           // BINGET
        case 'j': push(get(in_.le<std::uint32_t>())); break;              // LONG_BINGET
        case '0': pop(); break;                                           // POP
        case '1': pop_mark(); break;                                      // POP_MARK
        case '2': push(top()); break;                                     // DUP
        case 'c': { auto module = in_.line(); auto name = in_.line();     // GLOBAL
                    push(global(module + "." + name)); break; }
        case 0x93: { auto name = pop(); auto module = pop();              // STACK_GLOBAL
                     if (module->kind != PyValue::Kind::Str || name->kind != PyValue::Kind::Str)
                       fail("STACK_GLOBAL without two strings");
                     push(global(module->s + "." + name->s)); break; }
        case 'Q': push(persistent(pop())); break;                         // BINPERSID
        case 'R': { auto args = pop(); auto fn = pop(); push(call(fn, args)); break; }  // REDUCE
        case 0x81: { auto args = pop(); auto cls = pop(); push(call(cls, args)); break; }  // NEWOBJ
        case 'b': build(); break;                                         // BUILD
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(std::string("unsupported pickle opcode ") + hex +
               " at byte " + std::to_string(in_.position() - 1) + "; a checkpoint may only hold tensors");
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(in_.name() + ": " + what);
  }

  /// Every value pushed, mark set and memo entry counts against a budget far
  /// above any checkpoint's (about 25 per tensor): megabytes of one-byte opcodes
  /// would otherwise become gigabytes of values.
  static constexpr std::size_t kMaxValues = std::size_t(1) << 20;
  void count() {
    if (++values_ > kMaxValues)
      fail("the pickle builds more than " + std::to_string(kMaxValues) +
           " values, far more than any checkpoint needs (a memory bomb?); refusing it");
  }
  void push(PyRef v) {
    count();
    stack_.push_back(std::move(v));
  }
  PyRef pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("pickle stack underflow (corrupt pickle)");
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PyRef& top() {
    if (stack_.empty()) fail("pickle stack underflow (corrupt pickle)");
    return stack_.back();
  }
  std::vector<PyRef> pop_mark() {
    if (marks_.empty()) fail("pickle MARK missing (corrupt pickle)");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }
  std::vector<PyRef> pop_n(std::size_t n) {
    std::vector<PyRef> out(n);
    for (std::size_t k = n; k-- > 0;) out[k] = pop();
    return out;
  }
  PyRef get(std::uint32_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("pickle memo key " + std::to_string(key) + " missing (corrupt pickle)");
    return it->second;
  }

  static PyRef boolean(bool b) {
    auto v = py_make(PyValue::Kind::Bool);
    v->i = b;
    return v;
  }
  static PyRef integer(std::int64_t i) {
    auto v = py_make(PyValue::Kind::Int);
    v->i = i;
    return v;
  }
  PyRef long1(unsigned n) {
    std::string bytes = in_.read_string(n);
    if (n > 8) {
      auto v = py_make(PyValue::Kind::BigInt);
      v->s = std::move(bytes);
      return v;
    }
    std::uint64_t u = 0;
    for (unsigned k = 0; k < n; ++k) u |= std::uint64_t(static_cast<unsigned char>(bytes[k])) << (8 * k);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(bytes[n - 1]) & 0x80)) u |= ~std::uint64_t(0) << (8 * n);
    std::int64_t i;
    std::memcpy(&i, &u, 8);
    return integer(i);
  }
  PyRef binfloat() {
    unsigned char b[8];
    in_.read(b, 8);
    std::uint64_t u = 0;
    for (int k = 0; k < 8; ++k) u = (u << 8) | b[k];  // big-endian
    auto v = py_make(PyValue::Kind::Float);
    std::memcpy(&v->f, &u, 8);
    return v;
  }
  PyRef str(std::uint64_t n) {
    auto v = py_make(PyValue::Kind::Str);
    v->s = in_.read_string(n);
    return v;
  }
  static PyRef tuple(std::vector<PyRef> items) {
    auto v = py_make(PyValue::Kind::Tuple);
    v->items = std::move(items);
    return v;
  }
  PyRef list(const PyRef& v) {
    if (v->kind != PyValue::Kind::List) fail("APPEND to something that is not a list (corrupt pickle)");
    return v;
  }
  PyRef dict(const PyRef& v) {
    if (v->kind != PyValue::Kind::Dict) fail("SETITEM on something that is not a dict (corrupt pickle)");
    return v;
  }

  PyRef global(const std::string& name) {
    c10::ScalarType dtype;
    if (name != "collections.OrderedDict" && name != "torch._utils._rebuild_tensor_v2" &&
        name != "torch._utils._rebuild_parameter" && !storage_dtype(name, dtype))
      fail("refuses global " + name + "; a checkpoint may only hold tensors "
           "(collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, "
           "torch.<Type>Storage)");
    auto v = py_make(PyValue::Kind::Global);
    v->s = name;
    return v;
  }

  PyRef persistent(const PyRef& pid) {
    auto v = persistent_load_(pid);
    if (!v || v->kind != PyValue::Kind::Storage) fail("persistent id does not name a storage");
    return v;
  }

  static std::vector<std::int64_t> ints(const PyRef& v, const std::string& what, const Unpickler& self) {
    if (v->kind != PyValue::Kind::Tuple) self.fail(what + " is not a tuple (corrupt checkpoint)");
    std::vector<std::int64_t> out;
    for (const auto& x : v->items) {
      if (x->kind != PyValue::Kind::Int) self.fail(what + " holds a non-integer (corrupt checkpoint)");
      out.push_back(x->i);
    }
    return out;
  }

  PyRef call(const PyRef& fn, const PyRef& args) {
    if (fn->kind != PyValue::Kind::Global || args->kind != PyValue::Kind::Tuple)
      fail("REDUCE on something that is not an allowed global (corrupt pickle)");
    const auto& a = args->items;
    if (fn->s == "collections.OrderedDict") {
      if (!a.empty()) fail("collections.OrderedDict called with arguments");
      return py_make(PyValue::Kind::Dict);
    }
    if (fn->s == "torch._utils._rebuild_tensor_v2") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (a.size() < 4 || a[0]->kind != PyValue::Kind::Storage || a[1]->kind != PyValue::Kind::Int)
        fail("malformed torch._utils._rebuild_tensor_v2 arguments");
      const auto sizes = ints(a[2], "tensor size", *this);
      const auto strides = ints(a[3], "tensor stride", *this);
      const auto& storage = a[0]->tensor;
      const std::int64_t numel = storage.numel() - a[0]->i;
      check_view(in_.name(), numel, a[1]->i, sizes, strides);
      auto t = torch::empty({0}, storage.options());
      t.set_(storage.storage(), a[0]->i + a[1]->i, sizes, strides);
      auto v = py_make(PyValue::Kind::Tensor);
      v->tensor = t;
      return v;
    }
    if (fn->s == "torch._utils._rebuild_parameter") {
      if (a.empty() || a[0]->kind != PyValue::Kind::Tensor) fail("malformed torch._utils._rebuild_parameter arguments");
      return a[0];
    }
    fail("refuses to call " + fn->s + "; a checkpoint may only hold tensors");
  }

  /// BUILD sets an object's __dict__: for an OrderedDict state dict that is its
  /// `_metadata` (version numbers), which is accepted and dropped.
  void build() {
    pop();  // the state
    const auto& obj = top();
    if (obj->kind == PyValue::Kind::Dict || obj->kind == PyValue::Kind::Tensor) return;
    fail("BUILD on an object that is not a dict or tensor (corrupt pickle)");
  }

  PickleInput& in_;
  PersistentLoad persistent_load_;
  std::vector<PyRef> stack_;
  std::vector<std::size_t> marks_;
  std::size_t values_ = 0;
  std::unordered_map<std::uint32_t, PyRef> memo_;
};

/// Writes the pickle torch.save would write for an OrderedDict of tensors, each
/// tensor with its own storage "0", "1", ... (see pth.hpp for the archive).
class StateDictPickler {
 public:
  StateDictPickler() {
    out_ += "\x80\x02";  // PROTO 2
    global("collections", "OrderedDict");
    out_ += ")R(";       // EMPTY_TUPLE REDUCE MARK
  }

  void add(const std::string& key, const std::string& storage_key, c10::ScalarType dtype,
           const std::vector<std::int64_t>& sizes) {
    unicode(key);
    global("torch._utils", "_rebuild_tensor_v2");
    out_ += "((";  // MARK MARK
    unicode("storage");
    global("torch", storage_class(dtype));
    unicode(storage_key);
    unicode("cpu");
    std::int64_t numel = 1;
    for (auto s : sizes) numel *= s;
    integer(numel);
    out_ += "tQ";  // TUPLE BINPERSID
    integer(0);    // storage offset
    out_ += "(";
    for (auto s : sizes) integer(s);
    out_ += "t(";
    std::int64_t stride = 1;
    std::vector<std::int64_t> strides(sizes.size());
    for (std::size_t d = sizes.size(); d-- > 0;) {
      strides[d] = stride;
      stride *= std::max<std::int64_t>(sizes[d], 1);
    }
    for (auto s : strides) integer(s);
    out_ += "t\x89";  // TUPLE NEWFALSE (requires_grad)
    global("collections", "OrderedDict");
    out_ += ")RtR";   // backward hooks = OrderedDict(); TUPLE REDUCE
  }

  std::string finish() {
    out_ += "u.";  // SETITEMS STOP
    return std::move(out_);
  }

 private:
  void global(const std::string& module, const std::string& name) { out_ += "c" + module + "\n" + name + "\n"; }
  void unicode(const std::string& s) {
    out_ += 'X';
    append_le<std::uint32_t>(out_, static_cast<std::uint32_t>(s.size()));
    out_ += s;
  }
  void integer(std::int64_t v) {
    if (v >= std::numeric_limits<std::int32_t>::min() && v <= std::numeric_limits<std::int32_t>::max()) {
      out_ += 'J';
      append_le<std::int32_t>(out_, static_cast<std::int32_t>(v));
    } else {
      out_ += "\x8a\x08";  // LONG1, 8 bytes
      append_le<std::int64_t>(out_, v);
    }
  }

  std::string out_;
};

}  // namespace tlearn::detail
