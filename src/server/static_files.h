// The dashboard's static files (web/dist, built by scripts/bootstrap.sh): served by
// `memberlake serve` at `/` when `server.web_root` is set. Files only, read from one folder:
// no listing, no dotfiles, no `..`, nothing a symlink points at outside the folder. Every
// answer carries the dashboard's Content-Security-Policy (nothing may be loaded from or sent to
// another origin). The API stays under /api; this never sees those paths.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "server/api_service.h"

namespace memberlake::server {

class StaticFiles {
 public:
  // `root` must be an existing folder (error naming server.web_root otherwise).
  // `connect_origins`: origins (scheme://host[:port]) the page may also call besides its own,
  // for OpenID sign-in: the issuer (discovery) and the provider's token endpoint.
  static arrow::Result<std::unique_ptr<StaticFiles>> Open(const std::string& root,
                                                          const std::vector<std::string>& connect_origins = {});

  // Whether `request` is one this serves: GET (or HEAD, which the edge turns into GET) of a
  // path outside /api/, /health, /ready and /metrics.
  static bool Claims(const ApiRequest& request);

  // The file for request.path ("/" is index.html): 200 with its content type, ETag and
  // Cache-Control, 304 for a matching If-None-Match, 404 for anything missing or refused.
  // A client accepting gzip gets the build's FILE.gz beside it (Content-Encoding: gzip).
  ApiResponse Serve(const ApiRequest& request) const;

  // The policy sent with every static answer (documented in docs/dashboard.md).
  const std::string& content_security_policy() const { return policy_; }

 private:
  StaticFiles(std::string root, std::string policy) : root_(std::move(root)), policy_(std::move(policy)) {}
  std::string root_;  // canonical, without a trailing separator
  std::string policy_;
};

}  // namespace memberlake::server
