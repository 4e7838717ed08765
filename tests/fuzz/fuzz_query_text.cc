// The query surface's text forms (HTTP parameters where=, agg=, order_by=): any text is a
// clear error or a spec, never a crash.
#include "fuzz_support.h"
#include "query/query.h"

using namespace memberlake;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = fuzz::Split(data, size, 3);
  auto filter = query::ParseFilter(parts[0]);
  if (!filter.ok()) fuzz::Require(!filter.status().message().empty(), "a refusal says why");
  (void)query::ParseAggregate(parts[1]);
  (void)query::ParseOrder(parts[2]);
  return 0;
}
