// `memberlake serve`: the ApiService behind HTTP/1.1, event-driven on Boost.Asio/Beast (Debian
// libboost-dev, header-only).
//
// Why not a thread per connection (cpp-httplib, before): an idle or slow client held a worker,
// so 16 idle connections stalled the server and a header sent a byte at a time held a worker
// for as long as it trickled. Here connections live in the reactor (server.io_threads event
// loops) and cost a socket and a few hundred bytes while they wait; only a complete request
// reaches the worker pool (server.threads) that runs ApiService::Handle, which may take long
// (generation, exports). Answers that take no waiting (probes, answers cached for the current
// data: ApiService::HandleIfQuick, server.quick_answers) are given on the event loop itself:
// the hand-off to a worker and back costs more than they do.
//
// Limits, each set once per phase and never extended by incoming bytes:
//   new connection / between keep-alive requests: header_timeout_seconds / keep_alive_seconds,
//     then closed without a word; request line + headers: header_timeout_seconds from their
//     first byte (408); body: read_timeout_seconds (408); ApiService::Handle, queueing included:
//     request_timeout_seconds (503, the late result is dropped); response: write_timeout_seconds
//     (a streamed one: per piece), and write_stall_seconds without a byte taken by the client.
//   Streamed bodies are made a piece at a time on the worker pool and written by the event loop,
//     so a slow reader holds no worker (server/http_session.h).
//   max_connections in all and max_connections_per_client per address: more get 503 and close.
//   max_body_bytes for every framing: Content-Length up front, chunked bodies chunk by chunk as
//     they arrive, with or without credentials (413, nothing more read, then close). A request
//     without Content-Length and not chunked has an empty body (HTTP/1.1).
//   headers over 32 KiB: 431; target over 8 KiB: 414; unknown method: 405; malformed: 400.
// Errors the edge answers itself have JSON bodies like the service's and close the connection;
// their access-log line has an empty actor. GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS go
// to the service, with query parameters percent-decoded (repeated names kept) and header names
// lower-cased. TCP_NODELAY on every connection; keep-alive up to keep_alive_max_requests.
//
// Here: the listener, the pools and the shutdown; one connection's life is in http_session.cc.
//
// SIGTERM or SIGINT stops accepting, closes waiting connections, lets the requests in flight
// finish (answered with Connection: close), then ApiService::Drain() waits for a running
// generation and flushes the audit log. Every request is one JSON line in the access log.
#pragma once

#include <functional>
#include <memory>

#include <arrow/status.h>

#include "server/server_config.h"

namespace memberlake::server {

// Runs until SIGTERM/SIGINT. `on_listening` gets the bound port (useful with port = 0).
// Raises the soft open-file limit to the hard one (room for server.max_connections).
arrow::Status Serve(const ServerConfig& config, const std::function<void(int port)>& on_listening);

}  // namespace memberlake::server
