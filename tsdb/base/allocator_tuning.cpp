#include "tsdb/base/allocator_tuning.h"

#include <malloc.h>

#include <cstdlib>

namespace promblock {

void tune_allocator() {
  // glibc raises its mmap threshold to the size of any mmapped block freed,
  // and its trim threshold to twice that. A merge frees megabyte buffers
  // now and then, so both end up wherever the last one left them: too low,
  // and the heap is trimmed and faulted in again batch after batch (three
  // times the page faults, 10 % slower on a 24-input compaction); too high,
  // and freed batches stay resident. Fixed values, measured on the bench's
  // long cases: buffers of 2 MiB and more are mapped on their own, and up
  // to 4 MiB of free heap is kept for the next batch.
  constexpr int kMmapThreshold = 2 << 20;
  constexpr int kTrimThreshold = 4 << 20;
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  if (!std::getenv("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
}

}  // namespace promblock
