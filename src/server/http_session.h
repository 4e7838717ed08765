// One HTTP connection of `memberlake serve` (server/http_server.h has the design and the limits):
// what all connections share (Edge), the connection caps, and starting and stopping sessions.
// The listener and the pools live in http_server.cc.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include "server/server_config.h"

namespace memberlake::server {

class ApiService;
class AccessLog;

// Open connections in all and per client address. Checked on accept, released when the
// connection's session ends.
class ConnectionLimits {
 public:
  ConnectionLimits(int total, int per_client) : total_(total), per_client_(per_client) {}
  bool Acquire(const std::string& client);
  void Release(const std::string& client);

 private:
  std::mutex mutex_;
  const int total_, per_client_;
  int open_ = 0;
  std::unordered_map<std::string, int> by_client_;
};

class Session;

// What every session shares; outlives them all (Serve joins every thread before it goes).
struct Edge {
  const ServerConfig& config;
  ApiService& service;
  AccessLog& access_log;
  boost::asio::thread_pool& workers;  // ApiService::Handle and the pieces of streamed bodies
  ConnectionLimits limits;
  std::atomic<bool> stopping{false};
  std::mutex sessions_mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // for the shutdown
};

// Serves `socket` until it closes. `counted`: it holds a place in edge.limits (released at the
// end); otherwise it is answered 503 and closed.
void StartSession(boost::asio::ip::tcp::socket socket, Edge& edge, std::string remote, bool counted);

// Graceful stop: connections waiting for a request close now; requests in flight are finished
// and answered with "Connection: close". Call after setting edge.stopping.
void StopSessions(Edge& edge);

}  // namespace memberlake::server
