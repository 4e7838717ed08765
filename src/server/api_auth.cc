// Sign-in: GET /api/auth/config, what the dashboard needs to start an OpenID Connect sign-in
// (public: the browser asks before it holds a token; it names no secret, the client is public
// and uses PKCE), and where the JWT verifier gets its RS256 keys from.
#include "server/api_service_impl.h"
#include "server/jwks_cache.h"

namespace memberlake::server {

bool FetchesSigningKeys(const ServerConfig& config) {
  return config.jwks_file.empty() &&
         (!config.jwks_uri.empty() || config.hs256_secret.empty() || !config.oidc_client_id.empty());
}

arrow::Result<JwtOptions> JwtOptionsFor(const ServerConfig& config) {
  JwtOptions options;
  options.issuer = config.issuer;
  options.audience = config.audience;
  options.hs256_secret = config.hs256_secret;
  options.leeway_seconds = config.leeway_seconds;
  if (!config.jwks_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(options.jwks_json, ReadTextFile(config.jwks_file, "JWKS file"));
  } else if (FetchesSigningKeys(config)) {
    // Cognito: the keys are the issuer's, fetched (and fetched again when they rotate).
    JwksCacheOptions keys;
    keys.issuer = config.issuer;
    keys.jwks_uri = config.jwks_uri;
    keys.refetch_interval_seconds = config.jwks_refetch_seconds;
    ARROW_ASSIGN_OR_RAISE(options.rsa_keys, JwksCache::Make(keys));
  }
  return options;
}

ApiResponse ApiService::Impl::AuthConfig() const {
  Json oidc = nullptr;
  if (!config.oidc_client_id.empty()) {
    oidc = Json{{"issuer", config.issuer},
                {"client_id", config.oidc_client_id},
                {"redirect_uri", config.oidc_redirect_uri},
                {"scopes", config.oidc_scopes}};
  }
  ApiResponse response = JsonResponse(200, Json{{"oidc", oidc}});
  response.headers.emplace_back("Cache-Control", "no-cache");  // follows a config change at the next load
  return response;
}

}  // namespace memberlake::server
