// Test helper: writes a small block with one deliberate inconsistency (see
// tests/tools/bad_block.h for the faults) for the verify end-to-end tests.
// Usage: make_bad_block FAULT OUT_PARENT_DIR   (prints the new block dir)
//        make_bad_block --list                 (prints the faults)
#include <iostream>
#include <string>

#include "tests/tools/bad_block.h"

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--list") {
    for (const auto& f : promblock::testing::bad_block_faults()) std::cout << f << "\n";
    return 0;
  }
  if (argc != 3) {
    std::cerr << "usage: make_bad_block FAULT OUT_PARENT_DIR | --list\n";
    return 2;
  }
  try {
    std::cout << promblock::testing::write_bad_block(argv[2], argv[1]) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "make_bad_block: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
