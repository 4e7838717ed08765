#include "server/http_server.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "model/calendar.h"
#include "model/text.h"
#include "server/api_service.h"

namespace memberlake::server {
namespace {

// One JSON line per request; to a file, stderr, or nowhere.
class AccessLog {
 public:
  static arrow::Result<std::unique_ptr<AccessLog>> Open(const std::string& target) {
    auto log = std::unique_ptr<AccessLog>(new AccessLog());
    if (target == "-") {
      log->file_ = stderr;
    } else if (!target.empty()) {
      log->file_ = std::fopen(target.c_str(), "a");
      if (log->file_ == nullptr) return arrow::Status::IOError("cannot open access log ", target);
      log->owned_ = true;
    }
    return log;
  }
  ~AccessLog() {
    if (owned_) std::fclose(file_);
  }
  void Write(const std::string& line) {
    if (file_ == nullptr) return;
    std::lock_guard<std::mutex> lock(mutex_);
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }
  bool enabled() const { return file_ != nullptr; }

 private:
  AccessLog() = default;
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  bool owned_ = false;
};

// Per worker thread: when the current request started and who made it.
thread_local std::chrono::steady_clock::time_point request_start;
thread_local std::string request_actor;

ApiRequest ToApiRequest(const httplib::Request& req) {
  ApiRequest request;
  request.method = req.method;
  request.path = req.path;
  for (const auto& [name, value] : req.params) request.params.emplace(name, value);
  for (const auto& [name, value] : req.headers) {
    request.headers[model::AsciiLower(name)] = value;
  }
  request.body = req.body;
  return request;
}

}  // namespace

arrow::Status Serve(const ServerConfig& config, const std::function<void(int port)>& on_listening) {
  // Block the stop signals in every thread; one thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ARROW_ASSIGN_OR_RAISE(auto service, ApiService::Make(config));
  ARROW_ASSIGN_OR_RAISE(auto access_log, AccessLog::Open(config.access_log));

  httplib::Server http;
  const size_t threads = static_cast<size_t>(config.threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(static_cast<size_t>(config.max_body_bytes));
  http.set_read_timeout(config.read_timeout_seconds, 0);
  http.set_write_timeout(config.write_timeout_seconds, 0);
  http.set_keep_alive_timeout(config.keep_alive_seconds);
  http.set_keep_alive_max_count(static_cast<size_t>(config.keep_alive_max_requests));
  // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the
  // client's delayed ACK hold every small response back ~40 ms.
  http.set_tcp_nodelay(true);
  http.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    request_start = std::chrono::steady_clock::now();
    request_actor.clear();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto handle = [&service](const httplib::Request& req, httplib::Response& res) {
    ApiResponse response = service->Handle(ToApiRequest(req));
    request_actor = response.actor;
    res.status = response.status;
    for (const auto& [name, value] : response.headers) res.set_header(name, value);
    if (!response.content_type.empty()) res.set_content(std::move(response.body), response.content_type.c_str());
  };
  for (const char* pattern : {".*"}) {
    http.Get(pattern, handle);
    http.Post(pattern, handle);
    http.Put(pattern, handle);
    http.Patch(pattern, handle);
    http.Delete(pattern, handle);
  }
  // Errors httplib answers itself (413, 400 on a malformed request line, ...) get JSON bodies too.
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* message = res.status == 413   ? "request body too large"
                          : res.status == 414 ? "request URI too long"
                          : res.status == 408 ? "request timeout"
                          : res.status == 404 ? "not found"
                          : res.status == 405 ? "method not allowed"
                                              : "bad request";
    nlohmann::json body = {{"error", {{"status", res.status}, {"message", message}}}};
    res.set_content(body.dump(), "application/json");
  });
  http.set_logger([&access_log](const httplib::Request& req, const httplib::Response& res) {
    if (!access_log->enabled()) return;
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request_start).count();
    nlohmann::ordered_json line = {{"time", model::UtcNowIso()},  {"remote", req.remote_addr},
                                   {"method", req.method},        {"path", req.path},
                                   {"status", res.status},        {"bytes", res.body.size()},
                                   {"ms", std::round(ms * 1000) / 1000}, {"actor", request_actor}};
    access_log->Write(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  });

  int port = config.port;
  if (port == 0) {
    port = http.bind_to_any_port(config.listen);
  } else if (!http.bind_to_port(config.listen, port)) {
    port = -1;
  }
  if (port < 0) return arrow::Status::IOError("cannot listen on ", config.listen, ":", config.port);

  std::atomic<bool> stopped{false};
  std::thread signal_waiter([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    if (!stopped.exchange(true)) std::fprintf(stderr, "memberlake: signal %d, draining requests in flight\n", signal_number);
    http.stop();
  });
  if (on_listening) on_listening(port);
  http.listen_after_bind();  // returns once stopped and the workers finished their requests
  if (!stopped.exchange(true)) pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  service->Drain();
  std::fprintf(stderr, "memberlake: server stopped\n");
  return arrow::Status::OK();
}

}  // namespace memberlake::server
