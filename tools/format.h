#pragma once
// Human-readable output helpers shared by the commands.
#include <cstdint>
#include <string>
#include <vector>

namespace promblock::tools {

// "1.5MiB"-style sizes (binary units, one decimal).
std::string format_bytes(uint64_t bytes);

// A left-aligned text table with a header row and two spaces between columns.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace promblock::tools
