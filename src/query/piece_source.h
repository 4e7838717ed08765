// A body produced on demand, piece by piece (pull): whoever sends it asks for the next piece only
// when the previous one is gone, so at most one piece is held and nothing needs a thread of its
// own while a slow receiver drains (the HTTP edge, server/http_session.h, asks on its worker pool
// and writes on its event loop).
#pragma once

#include <optional>
#include <string>

#include <arrow/result.h>

namespace memberlake::query {

class PieceSource {
 public:
  virtual ~PieceSource() = default;
  // The next piece (never empty), or nullopt after the last one. An error ends the body early;
  // Next is not called again after an error or the end.
  virtual arrow::Result<std::optional<std::string>> Next() = 0;
};

}  // namespace memberlake::query
