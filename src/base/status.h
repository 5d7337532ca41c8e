// Status and Result<T>: the error vocabulary of every Nimbus component.
//
// Errors are values. A Status carries a code from a closed enum and a lowercase
// message naming the object ("function my-fn: version 7 not found"). Result<T>
// holds either a T or a non-ok Status, with the API of std::expected so C++23
// can replace it with an alias. Both are thread-compatible value types.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/check.h"

namespace nimbus {

// The closed set of error codes. api/errors.cc is the one place that maps them to
// AWS error types and HTTP statuses.
enum class Code {
  kOk = 0,
  kInvalidArgument,     // bad input from a caller (400)
  kValidationFailed,    // input breaks the API model's own constraints (400 ValidationException)
  kNotFound,            // a named resource does not exist (404)
  kConflict,            // resource exists / state forbids the operation (409)
  kFailedPrecondition,  // a RevisionId or CodeSha256 precondition failed (412)
  kTooLarge,            // a request or payload above its limit (413)
  kThrottled,           // a concurrency or rate limit was hit (429)
  kUnavailable,         // transient platform failure, retry later (503)
  kDeadlineExceeded,    // an operation ran out of time
  kPermissionDenied,    // not allowed (403)
  kResourceExhausted,   // disk full, storage quota exceeded
  kInternal,            // a platform bug or an unexpected host failure (500)
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes the message with context once per component boundary:
  // "sandbox: create cgroup: " + message.
  Status WithContext(std::string_view context) const;

  // "NotFound: function f not found".
  std::string ToString() const;

  // A machine-readable refinement of the code for the wire, when one matters
  // (e.g. the Reason of a throttle: "ReservedFunctionConcurrentInvocationLimitExceeded").
  // Not part of equality.
  const std::string& detail() const { return detail_; }
  Status WithDetail(std::string detail) const {
    Status s = *this;
    s.detail_ = std::move(detail);
    return s;
  }

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::string detail_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status ValidationFailed(std::string m) { return {Code::kValidationFailed, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }

// Holds a T or an error Status. Constructing from an ok Status is a bug.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit like std::expected
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    NIMBUS_CHECK(!std::get<Status>(v_).ok()) << "Result constructed from an ok Status";
  }

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    NIMBUS_CHECK(has_value()) << "Result::value() on error: " << error().ToString();
    return std::get<0>(v_);
  }
  const T& value() const& {
    NIMBUS_CHECK(has_value()) << "Result::value() on error: " << error().ToString();
    return std::get<0>(v_);
  }
  T&& value() && {
    NIMBUS_CHECK(has_value()) << "Result::value() on error: " << error().ToString();
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Status& error() const {
    NIMBUS_CHECK(!has_value()) << "Result::error() on a value";
    return std::get<1>(v_);
  }
  // The Status: Ok when a value is held.
  Status status() const { return has_value() ? Status::Ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace nimbus

#define NIMBUS_CONCAT_INNER_(a, b) a##b
#define NIMBUS_CONCAT_(a, b) NIMBUS_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` (a Status) is not ok.
#define NIMBUS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::nimbus::Status nimbus_status_ = (expr);        \
    if (!nimbus_status_.ok()) return nimbus_status_; \
  } while (0)

// Evaluates `rexpr` (a Result<T>); on error returns its Status, else moves the
// value into `lhs` (which may be a declaration: `auto x`).
#define NIMBUS_ASSIGN_OR_RETURN(lhs, rexpr) \
  NIMBUS_ASSIGN_OR_RETURN_IMPL_(NIMBUS_CONCAT_(nimbus_result_, __LINE__), lhs, rexpr)
#define NIMBUS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                  \
  if (!tmp.has_value()) return tmp.error();            \
  lhs = std::move(tmp).value()
