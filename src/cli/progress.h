// Progress lines of the `nimbus` client commands: a single line on stderr,
// rewritten in place ("\r<text>", erased to the end), shown only when stderr is
// a terminal, so pipes and logs get no control characters. Used by `nimbus
// deploy` for zipping and uploading packages. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>

namespace nimbus::cli {

class Progress {
 public:
  // `enabled`: whether to draw at all (usually StderrIsTerminal()).
  explicit Progress(bool enabled) : enabled_(enabled) {}
  ~Progress() { Done(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Replaces the current line with `text`.
  void Show(const std::string& text);
  // Ends the current line, leaving its last text on the terminal.
  void Done();
  // Erases the current line, leaving the cursor at its start.
  void Clear();

 private:
  bool enabled_;
  bool shown_ = false;
};

bool StderrIsTerminal();

// "12.3 MB" (decimal megabytes, one decimal).
std::string Mb(uint64_t bytes);

}  // namespace nimbus::cli
