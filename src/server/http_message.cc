#include "server/http_message.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "model/calendar.h"

namespace memberlake::server {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int high = HexValue(text[i + 1]), low = HexValue(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_as_space && c == '+' ? ' ' : c);
  }
  return out;
}

RequestTarget SplitTarget(std::string_view target) {
  RequestTarget result;
  size_t question = target.find('?');
  result.path = PercentDecode(target.substr(0, question), false);
  if (question == std::string_view::npos) return result;
  std::string_view query = target.substr(question + 1);
  size_t hash = query.find('#');  // a fragment should not reach a server, but never make it a value
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    std::string name = PercentDecode(piece.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? std::string() : PercentDecode(piece.substr(eq + 1), true);
    result.params.emplace(std::move(name), std::move(value));
  }
  return result;
}

std::string ErrorBody(int status, std::string_view message) {
  nlohmann::json body = {{"error", {{"status", status}, {"message", std::string(message)}}}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

arrow::Result<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& target) {
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

AccessLog::~AccessLog() {
  if (owned_) std::fclose(file_);
}

std::string AccessLog::Format(const AccessEntry& e) {
  nlohmann::ordered_json line = {{"time", model::UtcNowIso()}, {"remote", e.remote},
                                 {"method", e.method},         {"path", e.path},
                                 {"status", e.status},         {"bytes", e.bytes},
                                 {"ms", std::round(e.ms * 1000) / 1000}, {"actor", e.actor}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void AccessLog::Write(const AccessEntry& entry) {
  if (file_ == nullptr) return;
  std::string line = Format(entry);
  std::lock_guard<std::mutex> lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fputc('\n', file_);
  std::fflush(file_);
}

}  // namespace memberlake::server
