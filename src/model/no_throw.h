// Exceptions stop at thread entries and at decoders of untrusted input. The core speaks
// arrow::Status; a library that throws (nlohmann::json on a mistyped value, std::stoll, a
// std::bad_alloc from a hostile size) must not end the process from a job, trigger, scan or
// request thread, where an escaping exception calls std::terminate.
#pragma once

#include <exception>
#include <string_view>
#include <type_traits>

#include <arrow/result.h>
#include <arrow/status.h>

namespace memberlake::model {

// Runs `fn` (returning Status or Result<T>) and turns any exception it throws into
// Status::UnknownError("<what>: <exception text>"). The one place the project catches `...`.
template <typename Fn>
auto CatchAll(std::string_view what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& error) {
    return arrow::Status::UnknownError(what, ": unexpected error: ", error.what());
  } catch (...) {
    return arrow::Status::UnknownError(what, ": unexpected error");
  }
}

}  // namespace memberlake::model
