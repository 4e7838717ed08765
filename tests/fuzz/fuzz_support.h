// Shared by the libFuzzer targets: splitting one input into several, and a property check
// that reports like a crash (libFuzzer keeps the input that broke it).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace memberlake::fuzz {

// The input cut at '\x1f' (unit separator) into at most `parts` pieces, missing ones empty.
inline std::vector<std::string> Split(const uint8_t* data, size_t size, size_t parts) {
  std::vector<std::string> out(parts);
  size_t part = 0;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0x1f && part + 1 < parts) {
      ++part;
    } else {
      out[part].push_back(static_cast<char>(data[i]));
    }
  }
  return out;
}

// A broken property is a finding: print it and abort, so libFuzzer saves the input.
inline void Require(bool holds, const char* property, std::string_view detail = {}) {
  if (holds) return;
  std::fprintf(stderr, "property broken: %s %.*s\n", property, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace memberlake::fuzz
