// Test helper: maps FILE with MappedFile, truncates the file to zero bytes
// (as another process could), then reads the mapped bytes. Prometheus-style
// readers must not crash on that: the SIGBUS handler is expected to print
// one line naming FILE and exit with status 1.
//   sigbus_probe FILE
#include <unistd.h>

#include <cstdio>
#include <string>

#include "tsdb/base/mapped_file.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: sigbus_probe FILE\n");
    return 2;
  }
  promblock::MappedFile f(argv[1]);
  if (::truncate(argv[1], 0) != 0) {
    std::perror("truncate");
    return 3;
  }
  unsigned sum = 0;
  for (uint8_t b : f.bytes()) sum += b;  // faults on the first page
  std::printf("read %zu bytes (sum %u): no SIGBUS\n", f.size(), sum);
  return 0;
}
