#pragma once
/// \file
/// A bounded reader for the part of HDF5 that Keras weight files use: superblocks
/// 0 to 3, object headers 1 and 2, groups as symbol tables (h5py's default) or as
/// link messages, attributes of strings (fixed-length, or variable-length in the
/// global heap) and datasets of numbers stored contiguously or compactly.
///
/// libhdf5's own reader trusts a file's metadata (a crafted global-heap reference
/// crashes it), so weight files are never read through it. Here every address,
/// size and count is checked against the file before it is used, every walk is
/// bounded, and a structure outside the subset (chunked or compressed data,
/// dense link or attribute storage, shared messages) is an Error that says so.

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tlearn::detail {

class Hdf5Reader {
 public:
  /// Reads n bytes at a file offset; the reader has checked the range first.
  using ReadAt = std::function<void(std::uint64_t offset, void* dst, std::uint64_t n)>;

  /// `name` starts every error message; `size` is the file's size in bytes.
  Hdf5Reader(std::string name, std::uint64_t size, ReadAt read);

  /// A group or dataset, by the address of its object header.
  struct Object {
    std::uint64_t address = 0;
  };

  const std::string& file_name() const { return name_; }

  Object root() const { return {root_}; }

  /// The object a hard link of `group` names, if there is one.
  std::optional<Object> child(Object group, const std::string& name);

  /// The names of `group`'s hard links, in name order.
  std::vector<std::string> links(Object group);

  bool is_group(Object object);
  bool has_attribute(Object object, const std::string& name);

  /// A string attribute as a list (a scalar gives one string). An empty numeric
  /// array (h5py's empty list) gives none; any other type is an Error.
  std::vector<std::string> strings(Object object, const std::string& attribute);

  /// A dataset of floats or integers, as a float32 tensor of its shape.
  torch::Tensor read_float(Object dataset);

  struct Message {
    std::uint16_t type = 0;
    std::uint8_t flags = 0;
    std::vector<std::uint8_t> data;
  };
  struct Header {
    std::vector<Message> messages;
  };

 private:
  [[noreturn]] void fail(const std::string& what) const;
  std::vector<std::uint8_t> bytes(std::uint64_t address, std::uint64_t n, const std::string& what) const;
  const Header& header(std::uint64_t address);
  const Message* find(const Header& h, std::uint16_t type) const;
  void read_superblock();
  void collect_symbol_table(const Message& m, std::map<std::string, std::uint64_t>& out);
  void walk_group_btree(std::uint64_t node, const std::vector<std::uint8_t>& heap, int depth,
                        std::map<std::string, std::uint64_t>& out, std::set<std::uint64_t>& visited);
  const std::map<std::string, std::uint64_t>& link_table(Object group);
  const Message* attribute_message(Object object, const std::string& name);
  const std::vector<std::uint8_t>& global_heap(std::uint64_t address);

  std::string name_;
  std::uint64_t size_;
  ReadAt read_;
  int offset_size_ = 8;
  int length_size_ = 8;
  std::uint64_t base_ = 0;
  std::uint64_t root_ = 0;
  std::uint64_t header_bytes_ = 0;  // read into cached headers so far, bounded
  std::map<std::uint64_t, std::unique_ptr<Header>> headers_;
  std::map<std::uint64_t, std::map<std::string, std::uint64_t>> groups_;
  std::map<std::uint64_t, std::vector<std::uint8_t>> heaps_;
};

}  // namespace tlearn::detail
