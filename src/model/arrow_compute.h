// Arrow (21 and later) registers its compute kernels only when asked, and a kernel used before
// that fails with "No function registered with name: ...". Every entry point that computes or
// scans (generation, normalisation, queries, lake file reads) calls this first, so no call
// order (a download as a process's first request, a Lambda cold start) can reach Arrow
// uninitialised.
#pragma once

#include <arrow/compute/initialize.h>
#include <arrow/status.h>

namespace memberlake::model {

// Registers the kernels once per process; later calls return the first call's result.
// Thread-safe.
inline arrow::Status EnsureArrowCompute() {
  static const arrow::Status initialized = arrow::compute::Initialize();
  return initialized;
}

}  // namespace memberlake::model
