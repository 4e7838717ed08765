// STUB: the `oidc` helper's branch provides the real module (OpenID Connect Authorization Code
// with PKCE against the club's Cognito pool). The interface the sign-in view uses:
//   loadAuthConfig()                     -> {oidc: null} | {oidc: {issuer, client_id, redirect_uri, scopes}}
//   beginSignIn(oidcConfig, returnTo)    redirects the browser to the provider
//   completeSignIn(oidcConfig)           -> null (not a callback) | {token, expiresAt, returnTo}
export async function loadAuthConfig() {
  return { oidc: null };
}

export async function beginSignIn(_oidcConfig, _returnTo) {
  throw new Error("OpenID Connect is not available in this build");
}

export async function completeSignIn(_oidcConfig) {
  return null;
}
