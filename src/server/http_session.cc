#include "server/http_session.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "model/no_throw.h"
#include "model/text.h"
#include "server/api_service.h"
#include "server/http_message.h"

namespace memberlake::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

bool ConnectionLimits::Acquire(const std::string& client) {
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

void ConnectionLimits::Release(const std::string& client) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = by_client_.find(client);
  if (it != by_client_.end() && --it->second == 0) by_client_.erase(it);
  --open_;
}

namespace {

constexpr uint32_t kHeaderLimit = 32 * 1024;    // request line + headers; more: 431
constexpr size_t kTargetLimit = 8 * 1024;       // request target; more: 414
constexpr size_t kLingerBytes = 1 << 20;        // discarded after an early answer (see Session::Linger)
constexpr auto kLingerTime = std::chrono::seconds(2);

}  // namespace

// One connection. Every handler runs on the connection's strand; nothing blocks it: the request
// is handed to the worker pool and the session waits in the reactor (as it does between
// requests), so an idle or slow connection costs a socket and a few hundred bytes, never a thread.
// Only answers that take no waiting (ApiService::HandleIfQuick: probes and cached answers) are
// given on the strand itself, without the hand-off.
//
// Deadlines are set once per phase and never moved by incoming bytes: waiting for a request
// (keep_alive_seconds; header_timeout_seconds for a new connection), the request line and
// headers (header_timeout_seconds from their first byte), the body (read_timeout_seconds),
// processing (request_timeout_seconds), the response (write_timeout_seconds).
//
// A streamed body (ApiResponse::producer) is pulled a piece at a time: the worker that ran the
// request opens it and makes the first piece; the strand writes it (with the headers); when that
// write is done the next piece is made on the worker pool, and so on. No thread waits while a
// client drains its socket, so slow downloads do not take workers from other requests, and at
// most one piece per connection is held. Each write must finish within write_timeout_seconds,
// and a client that takes no byte for write_stall_seconds is disconnected. The headers go out
// with the first piece: until then the processing timeout applies (and an error is still a 500).
// An error after that ends the connection without the last chunk (Transfer-Encoding: chunked;
// HTTP/1.0: raw, the end marked by closing), so the client sees a truncated body, never a
// clean end.
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
        if (AllowedMethods(path_).empty()) return Answer(404, "not found");
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
    api.remote = remote_;
    parser_.reset();
    // A cheap answer (a probe, a cached report, query or member list) is given right here: a
    // hand-off to a worker and back would cost more than the answer (ApiService::HandleIfQuick).
    std::optional<ApiResponse> quick;
    auto tried = model::CatchAll("request", [&]() -> arrow::Status {
      quick = edge_.service.HandleIfQuick(api);
      return arrow::Status::OK();
    });
    if (tried.ok() && quick && !quick->producer) return Respond(std::move(*quick));
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
    // A quick answer with a streamed body (none is, by HandleIfQuick's contract) is opened there.
    asio::post(edge_.workers, [self = shared_from_this(), id, head = head_, abandoned, api = std::move(api),
                               quick = std::move(quick)]() mutable {
      if (abandoned->load()) return;
      // Handle never throws by contract; if it ever did, the worker thread must not end the process.
      auto handled = quick ? arrow::Result<ApiResponse>(std::move(*quick))
                           : model::CatchAll("request", [&]() -> arrow::Result<ApiResponse> { return self->edge_.service.Handle(api); });
      ApiResponse response;
      if (handled.ok() && handled->producer) return self->StartStream(id, head, std::move(*handled));
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

  // Keeps the event loop from running out of work while a worker holds the next step.
  asio::any_io_executor KeepRunning() {
    return asio::prefer(socket_.get_executor(), asio::execution::outstanding_work.tracked);
  }

  // A write's deadline: write_timeout_seconds for the whole piece, and write_stall_seconds
  // without any byte taken by the client (Progress moves that one as bytes go out).
  void ArmWrite() {
    write_until_ = Clock::now() + std::chrono::seconds(edge_.config.write_timeout_seconds);
    ArmProgress();
  }
  void ArmProgress() {
    Arm(std::min<Clock::duration>(std::chrono::seconds(edge_.config.write_stall_seconds), write_until_ - Clock::now()));
  }
  auto Progress() {
    return [self = shared_from_this(), taken = size_t{0}](const error_code& ec, size_t total) mutable -> size_t {
      if (ec) return 0;
      if (total > taken) {
        taken = total;
        self->ArmProgress();
      }
      return 64 * 1024;
    };
  }

  // On the worker, after Handle: opens the body and makes its first piece (not for HEAD). The
  // headers go out with that piece, so an error until then is still a 500.
  void StartStream(uint64_t id, bool head, ApiResponse api) {
    auto keep = KeepRunning();
    BodyProducer producer = std::move(api.producer);
    auto meta = std::make_shared<const ApiResponse>(std::move(api));
    std::shared_ptr<BodySource> source;
    std::optional<std::string> first;
    arrow::Status opened;
    if (!head) {
      opened = model::CatchAll("streamed response", [&]() -> arrow::Status {
        ARROW_ASSIGN_OR_RAISE(auto made, producer());
        source = std::move(made);
        ARROW_ASSIGN_OR_RAISE(first, source->Next());
        return arrow::Status::OK();
      });
    }
    if (!opened.ok() || !first) {
      return asio::post(keep, [self = shared_from_this(), id, meta, opened] { self->EndStream(id, *meta, opened); });
    }
    asio::post(keep, [self = shared_from_this(), id, meta, source, piece = std::move(*first)]() mutable {
      if (id != self->request_id_ || self->phase_ != Phase::kProcessing) return;  // the processing timeout answered
      self->StreamHead(*meta, [self, source, piece = std::move(piece)](error_code ec) mutable {
        if (ec) return self->Finished(ec);
        self->WritePiece(std::move(source), std::move(piece));
      });
    });
  }

  // On the strand: writes one piece, then has the next one made on the worker pool. No thread
  // waits while the socket drains, however slowly the client reads.
  void WritePiece(std::shared_ptr<BodySource> source, std::string piece) {
    if (phase_ != Phase::kWriting) return;
    piece_ = std::move(piece);
    auto on_written = [self = shared_from_this(), source = std::move(source)](error_code ec, size_t) mutable {
      self->Disarm();
      if (ec) return self->Finished(ec);
      self->entry_.bytes += self->piece_.size();
      self->piece_ = std::string();
      self->MakeNextPiece(std::move(source));
    };
    ArmWrite();
    if (chunked_) {
      asio::async_write(socket_, http::make_chunk(asio::buffer(piece_)), Progress(), std::move(on_written));
    } else {
      asio::async_write(socket_, asio::buffer(piece_), Progress(), std::move(on_written));
    }
  }

  void MakeNextPiece(std::shared_ptr<BodySource> source) {
    asio::post(edge_.workers, [self = shared_from_this(), keep = KeepRunning(), source = std::move(source)]() mutable {
      auto next = model::CatchAll("streamed response", [&] { return source->Next(); });
      asio::post(keep, [self, source = std::move(source), next = std::move(next)]() mutable {
        if (self->phase_ != Phase::kWriting) return;  // closed meanwhile
        if (!next.ok()) {
          // Headers and part of the body are out: only closing without the last chunk tells the client.
          std::fprintf(stderr, "memberlake: streamed response ended early: %s\n", next.status().ToString().c_str());
          return self->Finished(asio::error::connection_aborted);
        }
        if (*next) return self->WritePiece(std::move(source), std::move(**next));
        if (!self->chunked_) return self->Finished({});
        self->ArmWrite();
        asio::async_write(self->socket_, http::make_chunk_last(), [self](error_code ec, size_t) { self->Finished(ec); });
      });
    });
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
    ArmWrite();
    http::async_write_header(socket_, *stream_->serializer, [self = shared_from_this(), next = std::move(next)](error_code ec, size_t) {
      self->Disarm();
      next(ec);
    });
  }

  // On the strand, when a streamed answer ends before its first piece: HEAD, an empty body, or
  // an error opening it (a 500, as nothing went out yet).
  void EndStream(uint64_t id, const ApiResponse& meta, const arrow::Status& produced) {
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
    Respond(std::move(answer));
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
    if (status == 405) response->set(http::field::allow, AllowedMethods(path_));
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
  std::string piece_;          // the piece being written
  bool chunked_ = true;
  std::unique_ptr<std::array<char, 16384>> scratch_;
  Clock::time_point start_ = Clock::now(), linger_until_, write_until_;
  size_t lingered_ = 0;
  uint64_t request_id_ = 0;
  int served_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = false, head_ = false;
  std::string method_, path_;
  AccessEntry entry_;
};

void StartSession(tcp::socket socket, Edge& edge, std::string remote, bool counted) {
  std::make_shared<Session>(std::move(socket), edge, std::move(remote), counted)->Start();
}

void StopSessions(Edge& edge) {
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard<std::mutex> lock(edge.sessions_mutex);
    for (auto& [raw, weak] : edge.sessions) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
  }
  for (auto& session : open) session->Stop();
}

}  // namespace memberlake::server
