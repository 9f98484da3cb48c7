#pragma once
/// \file
/// Just enough ZIP for torch.save archives: a reader for STORED (uncompressed)
/// entries with zip64 support, every offset checked against the file size, and
/// a writer that lays out entries the way PyTorch does (64-byte aligned data).

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tlearn/detail/file.hpp"

namespace tlearn::detail {

struct ZipEntry {
  std::string name;
  std::uint64_t data_offset = 0;  // where the stored bytes start in the file
  std::uint64_t size = 0;         // uncompressed == compressed for STORED entries
};

/// Central directory of a ZIP file: entry name -> location of its bytes.
class ZipReader {
 public:
  explicit ZipReader(BinaryFile& file) : file_(file) { read_central_directory(); }

  const std::vector<ZipEntry>& entries() const { return entries_; }

  const ZipEntry* find(const std::string& name) const;

 private:
  void fail(const std::string& what) const;

  void read_central_directory();

  BinaryFile& file_;
  std::vector<ZipEntry> entries_;
  std::map<std::string, std::size_t> index_;
};

std::uint32_t crc32_update(std::uint32_t crc, const void* data, std::size_t n);

/// Writes STORED entries to a stream, data aligned to 64 bytes like PyTorch's
/// writer, with zip64 records when sizes or offsets need them.
class ZipWriter {
 public:
  explicit ZipWriter(std::ostream& out) : out_(out) {}

  void add(const std::string& name, const void* data, std::uint64_t n);

  void finish();

 private:
  struct Central {
    std::string name;
    std::uint32_t crc;
    std::uint64_t size;
    std::uint64_t offset;
  };

  void write(const void* data, std::uint64_t n);

  std::ostream& out_;
  std::uint64_t pos_ = 0;
  std::vector<Central> entries_;
};

}  // namespace tlearn::detail
