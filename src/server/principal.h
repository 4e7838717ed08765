// Who is calling: the identity an authenticator (JWT or API key) vouches for. What the caller
// may do is decided elsewhere, in one place (server/access_policy.h), from `groups` alone.
#pragma once

#include <string>
#include <vector>

namespace memberlake::server {

struct Principal {
  std::string subject;              // JWT "sub" (or "username"), or the API key's name
  std::vector<std::string> groups;  // roles: the JWT's "cognito:groups", or the key's groups
  std::string auth_method;          // "jwt" or "api_key"
};

}  // namespace memberlake::server
