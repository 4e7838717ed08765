// Incremental SHA-256 (OpenSSL EVP), for manifest checksums.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace memberlake::crypto {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, int64_t size);
  // Lower-case hex; the object must not be updated afterwards.
  std::string HexDigest();

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

// The lower-case hex SHA-256 of `data` in one call.
std::string Sha256Hex(std::string_view data);

// `bytes` as lower-case hex, two digits a byte.
std::string HexLower(std::string_view bytes);

// HMAC-SHA256 of `data` under `key`: the 32 raw bytes (HexLower for text).
std::string HmacSha256(std::string_view key, std::string_view data);

}  // namespace memberlake::crypto
