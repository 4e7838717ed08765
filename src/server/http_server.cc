#include "server/http_server.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

#include "model/no_throw.h"
#include "server/api_service.h"
#include "server/http_message.h"
#include "server/http_session.h"

namespace memberlake::server {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// Accepts connections and hands each to a Session, or answers 503 over the connection caps.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& io, Edge& edge)
      : io_(io), edge_(edge), acceptor_(asio::make_strand(io)), retry_(acceptor_.get_executor()) {}

  arrow::Status Bind(const std::string& address, int port) {
    error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address(address, ec), static_cast<unsigned short>(port));
    if (ec) return arrow::Status::Invalid("server.listen: not an IP address: ", address);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return arrow::Status::IOError("cannot listen on ", address, ":", port, ": ", ec.message());
    return arrow::Status::OK();
  }
  int port() const { return acceptor_.local_endpoint().port(); }

  void Accept() {
    acceptor_.async_accept(asio::make_strand(io_), [self = shared_from_this()](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
      if (ec) {  // out of file descriptors, typically: back off a little instead of spinning
        self->retry_.expires_after(std::chrono::milliseconds(50));
        return self->retry_.async_wait([self](error_code) { self->Accept(); });
      }
      self->Admit(std::move(socket));
      self->Accept();
    });
  }

  void Stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_.cancel();
    });
  }

 private:
  void Admit(tcp::socket socket) {
    error_code ec;
    // Headers and body can go out in separate segments: without TCP_NODELAY, Nagle's algorithm
    // and the client's delayed ACK hold small responses back ~40 ms.
    socket.set_option(tcp::no_delay(true), ec);
    auto remote = socket.remote_endpoint(ec);
    if (ec) return;  // gone already
    std::string client = remote.address().to_string();
    bool counted = edge_.limits.Acquire(client);
    StartSession(std::move(socket), edge_, std::move(client), counted);
  }

  asio::io_context& io_;
  Edge& edge_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
};

// Room for max_connections sockets (plus files and the store): raise the soft limit to the hard one.
void RaiseOpenFileLimit(const ServerConfig& config) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < static_cast<rlim_t>(config.max_connections) + 256) {
    std::fprintf(stderr, "memberlake: warning: open file limit %llu is below server.max_connections (%d) + 256\n",
                 static_cast<unsigned long long>(limit.rlim_cur), config.max_connections);
  }
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
  RaiseOpenFileLimit(config);

  ARROW_ASSIGN_OR_RAISE(auto service, ApiService::Make(config));
  ARROW_ASSIGN_OR_RAISE(auto access_log, AccessLog::Open(config.access_log));

  asio::thread_pool workers(static_cast<size_t>(config.threads));
  Edge edge{config, *service, *access_log, workers,
            ConnectionLimits(config.max_connections, config.max_connections_per_client),
            {false}, {}, {}};
  asio::io_context io(config.io_threads);
  auto listener = std::make_shared<Listener>(io, edge);
  ARROW_RETURN_NOT_OK(listener->Bind(config.listen, config.port));
  listener->Accept();

  std::atomic<bool> stopped{false};
  std::thread signal_waiter([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    if (!stopped.exchange(true)) std::fprintf(stderr, "memberlake: signal %d, draining requests in flight\n", signal_number);
    edge.stopping = true;
    listener->Stop();
    StopSessions(edge);
  });
  if (on_listening) on_listening(listener->port());
  // The loops return once the acceptor is closed and every connection has ended: a request in
  // flight keeps its connection (and so the loop) alive until it is answered.
  // A handler that throws (std::bad_alloc, say) costs its connection, not the server.
  auto run_loop = [&io] {
    for (;;) {
      auto ran = model::CatchAll("http edge", [&io] {
        io.run();
        return arrow::Status::OK();
      });
      if (ran.ok()) return;
      std::fprintf(stderr, "memberlake: %s\n", ran.ToString().c_str());
    }
  };
  std::vector<std::thread> loops;
  for (int i = 1; i < config.io_threads; ++i) loops.emplace_back(run_loop);
  run_loop();
  for (auto& loop : loops) loop.join();
  if (!stopped.exchange(true)) pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  workers.join();  // results a processing timeout already answered for
  io.restart();
  io.poll();       // drops their late completions
  service->Drain();
  std::fprintf(stderr, "memberlake: server stopped\n");
  return arrow::Status::OK();
}

}  // namespace memberlake::server
