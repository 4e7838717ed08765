// `memberlake serve`: the ApiService behind HTTP/1.1 (cpp-httplib, from Debian: a small,
// well-tested server with keep-alive, a worker pool, body limits and timeouts, and nothing we
// would have to write ourselves; Boost.Beast would mean writing all of that on top).
//
// A bounded worker pool serves connections (a keep-alive connection holds a worker while it
// is open); bodies over max_body_bytes get 413; reads and writes time out. SIGTERM or SIGINT
// stops accepting, lets the requests in flight finish, waits for a running generation and
// flushes the audit log. Every request is written to the access log as one JSON line.
#pragma once

#include <functional>
#include <memory>

#include <arrow/status.h>

#include "server/server_config.h"

namespace memberlake::server {

// Runs until SIGTERM/SIGINT. `on_listening` gets the bound port (useful with port = 0).
arrow::Status Serve(const ServerConfig& config, const std::function<void(int port)>& on_listening);

}  // namespace memberlake::server
