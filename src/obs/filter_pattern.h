// FilterPattern: CloudWatch Logs filter pattern syntax, parsed once and matched
// against many event messages (FilterLogEvents; later metric and subscription
// filters). AWS's "Filter pattern syntax" page is the specification; where it is
// silent, the choice made here is written down below and pinned by a test.
//
// Three kinds of pattern, chosen by the first non-blank character:
//
// Unstructured (anything else). Blank-separated terms, case-sensitive.
//   ERROR              the message contains ERROR (a substring match: AWS
//                      describes terms as words, but finding "ERROR" inside
//                      "ERRORS" is the more useful reading of "contain")
//   "request failed"   an exact phrase; \" and \\ escape inside quotes
//   ERROR Exception    every term (AND)
//   ?ERROR ?WARN       any of them (OR). A ? starts an alternative that runs to the
//                      next ?, so `?ERROR db ?WARN` is (ERROR and db) or WARN; terms
//                      before the first ? are required by every alternative
//   ERROR -debug       exclusion: no event containing debug matches, whatever
//                      alternative it is in
//   %4\d\d%            a regular expression, searched in the message
//   "" or " "          every event (so does the empty pattern)
//
// JSON: { <expr> }. Matches only events whose whole message is a JSON value.
//   $.a.b[0]           a selector: members and array indexes from the root
//   = != "str" / str   string equality; * in the value is a wildcard
//                      ({ $.f = "*" } is "exists and is not null")
//   = != < <= > >= N   numeric comparison against a JSON number
//   = != %regex%       regular-expression search in a string value
//   IS TRUE / IS FALSE / IS NULL / NOT EXISTS
//   && || ( )          && binds tighter than ||
//   A comparison on a field that does not exist is false (use NOT EXISTS).
//
// Space-delimited: [name, name = value, ..., name > N && name < M].
//   The message is split at blanks into columns; "quoted" and [bracketed] runs
//   are one column (without the quotes or brackets). Each field names one
//   column, `...` any number of columns; without `...` the number of columns
//   must equal the number of fields. Conditions are as in JSON patterns and may
//   name any field of the pattern.
//
// Regular expressions (% ... %) may use letters, digits, : _ # = @ / ; , - and
// the operators ^ $ ? [ ] { } | \ * + . (no parentheses, no multi-byte
// characters); at most two per pattern, and patterns of 1024 characters at most,
// as AWS limits them.
//
// Thread-safety: immutable after Parse(); copies share the parsed form and may
// be used from any thread.
#pragma once

#include <memory>
#include <string_view>

#include "base/status.h"

namespace nimbus::obs {

class FilterPattern {
 public:
  // kInvalidArgument "Invalid filter pattern: <why>" for anything malformed.
  static Result<FilterPattern> Parse(std::string_view pattern);

  bool Matches(std::string_view message) const;

  // True for the empty pattern (and "" / " "), which matches every event.
  bool matches_everything() const;

  struct Node;  // the parsed form; defined in filter_pattern.cc

 private:
  explicit FilterPattern(std::shared_ptr<const Node> root) : root_(std::move(root)) {}
  std::shared_ptr<const Node> root_;  // null: matches everything
};

}  // namespace nimbus::obs
