// Bearer tokens. Any text: a fixed refusal, never a crash. Property: a valid HS256 token with
// one bit of its signature flipped (the input says which) never verifies.
#include "fuzz_support.h"
#include "crypto/sha256.h"
#include "server/jwt_verifier.h"

using namespace memberlake;

namespace {
const std::string kSecret = "fuzz-secret-0123456789-abcdefghijklmnop";
constexpr int64_t kNow = 1767780000;

std::string Sign(const std::string& input) { return server::EncodeBase64Url(crypto::HmacSha256(kSecret, input)); }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto verifier = [] {
    server::JwtOptions options;
    options.issuer = "https://issuer.example";
    options.audience = "memberlake";
    options.hs256_secret = kSecret;
    return std::move(*server::JwtVerifier::Make(options));
  }();
  static const std::string valid = [] {
    const std::string head = server::EncodeBase64Url(R"({"alg":"HS256","typ":"JWT"})");
    const std::string body = server::EncodeBase64Url(
        R"({"sub":"anna","iss":"https://issuer.example","aud":"memberlake","exp":1767783600,"iat":1767779000,"cognito:groups":["Members_Read","Regio_Utrecht"]})");
    return head + "." + body + "." + Sign(head + "." + body);
  }();
  fuzz::Require(verifier->Verify(valid, kNow).ok(), "the untouched token verifies");
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto principal = verifier->Verify(text, kNow);
  if (principal.ok()) fuzz::Require(text == valid || text.find('.') != std::string_view::npos, "only tokens verify");
  if (size >= 2) {
    std::string flipped = valid;
    const size_t signature = flipped.rfind('.') + 1;
    const size_t at = signature + (data[0] | (data[1] << 8)) % (flipped.size() - signature);
    const char bit = static_cast<char>(1 << (data[0] % 6));  // stays within base64url's 6 bits
    flipped[at] = static_cast<char>(flipped[at] ^ bit);
    if (flipped != valid) fuzz::Require(!verifier->Verify(flipped, kNow).ok(), "a flipped signature bit is refused", flipped);
  }
  return 0;
}
