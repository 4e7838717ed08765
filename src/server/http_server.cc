#include "server/http_server.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "model/no_throw.h"
#include "model/text.h"
#include "server/api_service.h"
#include "server/http_message.h"

namespace memberlake::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

constexpr uint32_t kHeaderLimit = 32 * 1024;    // request line + headers; more: 431
constexpr size_t kTargetLimit = 8 * 1024;       // request target; more: 414
constexpr size_t kLingerBytes = 1 << 20;        // discarded after an early answer (see Session::Linger)
constexpr auto kLingerTime = std::chrono::seconds(2);

// Open connections in all and per client address. Checked on accept, released when the
// connection's session ends.
class ConnectionLimits {
 public:
  ConnectionLimits(int total, int per_client) : total_(total), per_client_(per_client) {}
  bool Acquire(const std::string& client) {
    std::lock_guard<std::mutex> lock(mutex_);
    int& mine = by_client_[client];
    if (open_ >= total_ || mine >= per_client_) {
      if (mine == 0) by_client_.erase(client);
      return false;
    }
    ++mine;
    ++open_;
    return true;
  }
  void Release(const std::string& client) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = by_client_.find(client);
    if (it != by_client_.end() && --it->second == 0) by_client_.erase(it);
    --open_;
  }

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
  asio::thread_pool& workers;
  ConnectionLimits limits;
  std::atomic<bool> stopping{false};
  std::mutex sessions_mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // for the shutdown
};

// One connection. Every handler runs on the connection's strand; nothing blocks it: the request
// is handed to the worker pool and the session waits in the reactor (as it does between
// requests), so an idle or slow connection costs a socket and a few hundred bytes, never a thread.
//
// Deadlines are set once per phase and never moved by incoming bytes: waiting for a request
// (keep_alive_seconds; header_timeout_seconds for a new connection), the request line and
// headers (header_timeout_seconds from their first byte), the body (read_timeout_seconds),
// processing (request_timeout_seconds), the response (write_timeout_seconds).
//
// A streamed body (ApiResponse::producer) is produced on the worker, piece by piece: each piece
// is handed to the strand, written as one chunk (Transfer-Encoding: chunked; HTTP/1.0: raw, the
// end marked by closing) and the worker waits for that write before producing the next, so at
// most one piece is held and a client that stops reading stops the producer, for at most
// write_timeout_seconds per piece, after which the connection ends. The headers go out with the
// first piece: until then the processing timeout applies (and a producer error is still a 500).
// A producer error after that ends the connection without the last chunk, so the client sees a
// truncated body, never a clean end.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Edge& edge, std::string remote, bool counted)
      : socket_(std::move(socket)), edge_(edge), remote_(std::move(remote)), counted_(counted),
        deadline_(socket_.get_executor()), processing_timer_(socket_.get_executor()) {}
  ~Session() {
    if (counted_) edge_.limits.Release(remote_);
    std::lock_guard<std::mutex> lock(edge_.sessions_mutex);
    edge_.sessions.erase(this);
  }

  void Start() {
    {
      std::lock_guard<std::mutex> lock(edge_.sessions_mutex);
      edge_.sessions.emplace(this, weak_from_this());
    }
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      if (self->edge_.stopping) return self->Close();
      if (!self->counted_) return self->Answer(503, "too many connections from this address or in all; try again later");
      // A new connection gets the header deadline from its accept: no free idle time.
      self->ReadHeader();
    });
  }

  // Graceful stop: connections waiting for a request go now; a request in flight is finished
  // and answered with "Connection: close".
  void Stop() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ == Phase::kIdle || self->phase_ == Phase::kClosing ||
          (self->phase_ == Phase::kHeader && !self->parser_->got_some())) {
        self->Close();
      }
    });
  }

 private:
  enum class Phase { kIdle, kHeader, kBody, kProcessing, kWriting, kClosing };

  // Cancels the socket's pending operation when `seconds` pass; the handler sees timed_out_.
  void Arm(std::chrono::steady_clock::duration after) {
    timed_out_ = false;
    uint64_t generation = ++deadline_generation_;
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this(), generation](error_code ec) {
      if (ec || generation != self->deadline_generation_) return;
      self->timed_out_ = true;
      error_code ignored;
      self->socket_.cancel(ignored);
    });
  }
  void Disarm() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  // Between requests on a keep-alive connection: wait for the first byte of the next one.
  void WaitForRequest() {
    phase_ = Phase::kIdle;
    if (edge_.stopping) return Close();
    if (buffer_.size() > 0) return ReadHeader();  // pipelined: already here
    buffer_.shrink_to_fit();                      // thousands may wait: keep them small
    Arm(std::chrono::seconds(edge_.config.keep_alive_seconds));
    socket_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](error_code ec, size_t n) {
      self->Disarm();
      if (ec) return self->Close();
      self->buffer_.commit(n);
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    phase_ = Phase::kHeader;
    start_ = Clock::now();
    method_.clear();
    path_.clear();
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(static_cast<uint64_t>(edge_.config.max_body_bytes));
    Arm(std::chrono::seconds(edge_.config.header_timeout_seconds));
    http::async_read_header(socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, size_t) {
      self->Disarm();
      self->OnHeader(ec);
    });
  }

  // Maps a failed read to the edge's own answer, or to a silent close when nothing (more) can
  // usefully be said: the peer went away, or sent nothing at all before its deadline.
  void OnReadError(error_code ec) {
    if (timed_out_) {
      if (!parser_->got_some()) return Close();
      return Answer(408, "request timeout: the request did not arrive in time");
    }
    if (ec == http::error::header_limit) return Answer(431, "request header fields too large");
    if (ec == http::error::body_limit) {
      return Answer(413, "request body too large (limit " + std::to_string(edge_.config.max_body_bytes) + " bytes)");
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec.category() != http::make_error_code(http::error::bad_method).category()) {
      return Close();
    }
    return Answer(400, "bad request: " + ec.message());
  }

  void OnHeader(error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& request = parser_->get();
    version_ = request.version();
    method_ = std::string(request.method_string());
    std::string_view target(request.target().data(), request.target().size());
    if (target.size() > kTargetLimit) return Answer(414, "request URI too long");
    path_ = SplitTarget(target.substr(0, target.find('?'))).path;
    switch (request.method()) {
      case http::verb::get: case http::verb::head: case http::verb::post: case http::verb::put:
      case http::verb::patch: case http::verb::delete_: case http::verb::options:
        break;
      default:
        return Answer(405, "method not allowed: " + method_);
    }
    if (target.empty() || target.front() != '/') return Answer(404, "not found");
    if (parser_->is_done()) return Dispatch();
    auto expect = request[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      Arm(std::chrono::seconds(edge_.config.write_timeout_seconds));
      return asio::async_write(socket_, asio::buffer(kContinue), [self = shared_from_this()](error_code write_ec, size_t) {
        self->Disarm();
        if (write_ec) return self->Close();
        self->ReadBody();
      });
    }
    ReadBody();
  }

  // The parser enforces max_body_bytes as the body arrives, for Content-Length (up front) and
  // for chunked bodies (chunk by chunk): an oversized body is never buffered.
  void ReadBody() {
    phase_ = Phase::kBody;
    Arm(std::chrono::seconds(edge_.config.read_timeout_seconds));
    http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, size_t) {
      self->Disarm();
      if (ec) return self->OnReadError(ec);
      self->Dispatch();
    });
  }

  void Dispatch() {
    phase_ = Phase::kProcessing;
    auto& request = parser_->get();
    head_ = request.method() == http::verb::head;
    keep_alive_ = request.keep_alive() && ++served_ < edge_.config.keep_alive_max_requests;
    ApiRequest api;
    api.method = head_ ? "GET" : method_;
    RequestTarget target = SplitTarget(std::string_view(request.target().data(), request.target().size()));
    api.path = std::move(target.path);
    api.params = std::move(target.params);
    for (const auto& field : request) {
      api.headers[model::AsciiLower(std::string(field.name_string()))] = std::string(field.value());
    }
    api.body = std::move(request.body());
    parser_.reset();
    uint64_t id = ++request_id_;
    auto abandoned = std::make_shared<std::atomic<bool>>(false);
    processing_timer_.expires_after(std::chrono::seconds(edge_.config.request_timeout_seconds));
    processing_timer_.async_wait([self = shared_from_this(), id, abandoned](error_code ec) {
      if (ec || id != self->request_id_ || self->phase_ != Phase::kProcessing) return;
      abandoned->store(true);
      self->keep_alive_ = false;
      self->Answer(503, "request processing took longer than " +
                            std::to_string(self->edge_.config.request_timeout_seconds) +
                            " s (server.request_timeout_seconds); its result is discarded, try again later");
    });
    // The worker keeps the session alive until it is done, even if the timeout answered first;
    // its late result is then dropped on the strand. A request that timed out while still
    // queued is not run at all: its worker goes to the requests behind it.
    asio::post(edge_.workers, [self = shared_from_this(), id, head = head_, abandoned, api = std::move(api)]() {
      if (abandoned->load()) return;
      // Handle never throws by contract; if it ever did, the worker thread must not end the process.
      auto handled = model::CatchAll("request", [&]() -> arrow::Result<ApiResponse> { return self->edge_.service.Handle(api); });
      ApiResponse response;
      if (handled.ok() && handled->producer) return self->Stream(id, head, std::move(*handled));
      if (handled.ok()) {
        response = std::move(*handled);
      } else {
        std::fprintf(stderr, "memberlake: %s\n", handled.status().ToString().c_str());
        response.status = 500;
        response.body = ErrorBody(500, "internal error");
      }
      asio::post(self->socket_.get_executor(), [self, id, response = std::move(response)]() mutable {
        if (id != self->request_id_ || self->phase_ != Phase::kProcessing) return;
        self->processing_timer_.cancel();
        self->Respond(std::move(response));
      });
    });
  }

  // On the worker: runs the producer (not for HEAD), handing each piece to the strand and
  // waiting until it is written; then ends the response on the strand.
  void Stream(uint64_t id, bool head, ApiResponse api) {
    // The io loop must not run out of work while the worker is between two pieces.
    auto keep_running = asio::prefer(socket_.get_executor(), asio::execution::outstanding_work.tracked);
    BodyProducer producer = std::move(api.producer);
    auto meta = std::make_shared<const ApiResponse>(std::move(api));
    bool started = false;
    arrow::Status produced;
    if (!head) {
      produced = model::CatchAll("streamed response", [&] {
        return producer([&](std::string_view piece) -> arrow::Status {
          if (piece.empty()) return arrow::Status::OK();  // an empty chunk would end the body
          std::promise<error_code> written;
          auto future = written.get_future();
          asio::post(keep_running, [self = shared_from_this(), id, piece, first = !started, meta, done = &written] {
            self->WritePiece(id, first ? meta.get() : nullptr, piece, done);
          });
          started = true;
          error_code ec = future.get();
          if (ec) return arrow::Status::IOError("response not sent: ", ec.message());
          return arrow::Status::OK();
        });
      });
    }
    asio::post(keep_running, [self = shared_from_this(), id, meta, produced] { self->EndStream(id, *meta, produced); });
  }

  // On the strand. `meta` set for the first piece: the headers go out before it.
  void WritePiece(uint64_t id, const ApiResponse* meta, std::string_view piece, std::promise<error_code>* done) {
    if (meta != nullptr) {
      if (id != request_id_ || phase_ != Phase::kProcessing) return done->set_value(asio::error::operation_aborted);
      streaming_id_ = id;
      StreamHead(*meta, [self = shared_from_this(), piece, done](error_code ec) {
        if (ec) return done->set_value(ec);
        self->WritePiece(self->streaming_id_, nullptr, piece, done);
      });
      return;
    }
    if (phase_ != Phase::kWriting) return done->set_value(asio::error::operation_aborted);
    auto on_written = [self = shared_from_this(), size = piece.size(), done](error_code ec, size_t) {
      self->Disarm();
      if (!ec) self->entry_.bytes += size;
      done->set_value(ec);
    };
    Arm(std::chrono::seconds(edge_.config.write_timeout_seconds));
    if (chunked_) {
      asio::async_write(socket_, http::make_chunk(asio::buffer(piece.data(), piece.size())), std::move(on_written));
    } else {
      asio::async_write(socket_, asio::buffer(piece.data(), piece.size()), std::move(on_written));
    }
  }

  // Sends the status line and headers of a streamed response, then calls `next`.
  void StreamHead(const ApiResponse& meta, std::function<void(error_code)> next) {
    processing_timer_.cancel();
    if (edge_.stopping) keep_alive_ = false;
    chunked_ = version_ >= 11;
    if (!chunked_) keep_alive_ = false;  // HTTP/1.0: the end of the body is the end of the connection
    phase_ = Phase::kWriting;
    stream_ = std::make_unique<StreamedHead>();
    auto& message = stream_->message;
    message.version(version_);
    message.result(static_cast<http::status>(meta.status));
    for (const auto& [name, value] : meta.headers) message.insert(name, value);
    if (!meta.content_type.empty()) message.set(http::field::content_type, meta.content_type);
    message.keep_alive(keep_alive_);
    if (chunked_) message.chunked(true);
    stream_->serializer.emplace(message);
    entry_ = AccessEntry{remote_, method_, path_, meta.actor, meta.status, 0, 0};
    Arm(std::chrono::seconds(edge_.config.write_timeout_seconds));
    http::async_write_header(socket_, *stream_->serializer, [self = shared_from_this(), next = std::move(next)](error_code ec, size_t) {
      self->Disarm();
      next(ec);
    });
  }

  // On the strand, after the producer returned (or, for HEAD, instead of running it).
  void EndStream(uint64_t id, const ApiResponse& meta, const arrow::Status& produced) {
    if (streaming_id_ != id) {  // nothing went out yet
      if (id != request_id_ || phase_ != Phase::kProcessing) return;  // the processing timeout answered
      if (produced.ok() && head_) {
        return StreamHead(meta, [self = shared_from_this()](error_code ec) { self->Finished(ec); });
      }
      processing_timer_.cancel();
      ApiResponse answer = meta;
      if (!produced.ok()) {
        std::fprintf(stderr, "memberlake: %s\n", produced.ToString().c_str());
        answer.status = 500;
        answer.content_type = "application/json";
        answer.body = ErrorBody(500, "internal error");
      }
      return Respond(std::move(answer));
    }
    streaming_id_ = 0;
    if (phase_ != Phase::kWriting) return;  // closed already
    if (!produced.ok()) {
      // Headers and part of the body are out: only closing without the last chunk tells the client.
      std::fprintf(stderr, "memberlake: streamed response ended early: %s\n", produced.ToString().c_str());
      return Finished(asio::error::connection_aborted);
    }
    if (!chunked_) return Finished({});
    Arm(std::chrono::seconds(edge_.config.write_timeout_seconds));
    asio::async_write(socket_, http::make_chunk_last(), [self = shared_from_this()](error_code ec, size_t) { self->Finished(ec); });
  }

  void Respond(ApiResponse api) {
    auto response = std::make_unique<http::response<http::string_body>>(static_cast<http::status>(api.status), version_);
    for (const auto& [name, value] : api.headers) response->insert(name, value);
    if (!api.content_type.empty()) {
      response->set(http::field::content_type, api.content_type);
      response->body() = std::move(api.body);
    }
    Send(std::move(response), std::move(api.actor));
  }

  // An answer the edge gives itself: JSON error body, no actor (nobody was authenticated for it),
  // and the connection closes afterwards: after a framing error what follows cannot be trusted
  // to start a request, and after a processing timeout the client should not pile on.
  void Answer(int status, const std::string& message) {
    keep_alive_ = false;
    auto response = std::make_unique<http::response<http::string_body>>(static_cast<http::status>(status), version_);
    response->set(http::field::content_type, "application/json");
    if (status == 405) response->set(http::field::allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    response->body() = ErrorBody(status, message);
    head_ = false;
    Send(std::move(response), "");
  }

  void Send(std::unique_ptr<http::response<http::string_body>> response, std::string actor) {
    bool stopping = edge_.stopping;
    if (stopping) keep_alive_ = false;
    phase_ = Phase::kWriting;
    response->keep_alive(keep_alive_);
    auto status = response->result();
    if (http::to_status_class(status) == http::status_class::informational || status == http::status::no_content ||
        status == http::status::not_modified) {
      response->body().clear();  // these carry no body (Beast would throw on one)
    }
    response->prepare_payload();
    entry_ = AccessEntry{remote_, method_, path_, std::move(actor), static_cast<int>(response->result_int()),
                         response->body().size(), 0};
    if (head_) response->body().clear();  // Content-Length stays that of the GET
    response_ = std::move(response);
    Arm(std::chrono::seconds(edge_.config.write_timeout_seconds));
    auto on_written = [self = shared_from_this()](error_code ec, size_t) { self->Finished(ec); };
    if (head_) {
      header_only_ = std::make_unique<http::response_serializer<http::string_body>>(*response_);
      http::async_write_header(socket_, *header_only_, std::move(on_written));
    } else {
      http::async_write(socket_, *response_, std::move(on_written));
    }
  }

  // A response is sent (or failed): log it, then wait for the next request, linger or close.
  void Finished(error_code ec) {
    Disarm();
    entry_.ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
    edge_.access_log.Write(entry_);
    header_only_.reset();
    response_.reset();
    stream_.reset();
    if (ec) return Close();
    if (!keep_alive_) return Linger();
    WaitForRequest();
  }

  // After an answer that ends the connection: send FIN, then read and drop what the client is
  // still sending, for a short while and up to a bound, before closing. Closing a socket with
  // unread data makes the kernel send RST, and the client would then lose our answer (a 413 for
  // a large upload, typically) before reading it. The request itself is not read any further.
  void Linger() {
    phase_ = Phase::kClosing;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    linger_until_ = Clock::now() + kLingerTime;
    Arm(kLingerTime);
    DiscardSome();
  }
  void DiscardSome() {
    if (!scratch_) scratch_ = std::make_unique<std::array<char, 16384>>();
    socket_.async_read_some(asio::buffer(*scratch_), [self = shared_from_this()](error_code ec, size_t n) {
      self->lingered_ += n;
      if (ec || self->lingered_ >= kLingerBytes || Clock::now() >= self->linger_until_) {
        self->Disarm();
        return self->Close();
      }
      self->DiscardSome();
    });
  }

  void Close() {
    phase_ = Phase::kClosing;
    Disarm();
    processing_timer_.cancel();
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  Edge& edge_;
  const std::string remote_;
  const bool counted_;  // holds a place in ConnectionLimits
  asio::steady_timer deadline_;
  asio::steady_timer processing_timer_;
  uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;
  Phase phase_ = Phase::kIdle;
  beast::flat_buffer buffer_{kHeaderLimit + 16384};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::unique_ptr<http::response<http::string_body>> response_;
  std::unique_ptr<http::response_serializer<http::string_body>> header_only_;
  struct StreamedHead {
    http::response<http::empty_body> message;
    std::optional<http::response_serializer<http::empty_body>> serializer;
  };
  std::unique_ptr<StreamedHead> stream_;
  uint64_t streaming_id_ = 0;  // the request whose streamed headers went out
  bool chunked_ = true;
  std::unique_ptr<std::array<char, 16384>> scratch_;
  Clock::time_point start_ = Clock::now(), linger_until_;
  size_t lingered_ = 0;
  uint64_t request_id_ = 0;
  int served_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = false, head_ = false;
  std::string method_, path_;
  AccessEntry entry_;
};

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
    std::make_shared<Session>(std::move(socket), edge_, std::move(client), counted)->Start();
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
    std::vector<std::shared_ptr<Session>> open;
    {
      std::lock_guard<std::mutex> lock(edge.sessions_mutex);
      for (auto& [raw, weak] : edge.sessions) {
        if (auto session = weak.lock()) open.push_back(std::move(session));
      }
    }
    for (auto& session : open) session->Stop();
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
