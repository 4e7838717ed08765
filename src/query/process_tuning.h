// Process-wide allocator settings for query work, applied once at the start of main.
#pragma once

namespace memberlake::query {

// glibc hands allocations over 128 KiB to mmap and gives freed memory back at once, so every
// query pays fresh zeroed pages for its column buffers (a tenth of a cold group-by on 1M rows).
// Raising the mmap and trim thresholds keeps that memory for reuse.
void TuneProcessAllocator();

}  // namespace memberlake::query
