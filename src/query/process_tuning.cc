#include "query/process_tuning.h"

#include <malloc.h>

namespace memberlake::query {

void TuneProcessAllocator() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

}  // namespace memberlake::query
