// Replacing a local file whole: written next to it, then renamed over it, so a crash or a
// failed write leaves the old file or the new one, never half of either.
#pragma once

#include <string>
#include <string_view>

#include <arrow/status.h>

namespace memberlake::model {

// Writes `bytes` to `path` through `<path>.tmp-<pid>` and rename(2); the temporary file goes on
// failure. Errors name `path`.
arrow::Status ReplaceFile(const std::string& path, std::string_view bytes);

}  // namespace memberlake::model
