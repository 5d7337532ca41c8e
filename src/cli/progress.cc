#include "cli/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <iostream>

namespace nimbus::cli {

void Progress::Show(const std::string& text) {
  if (!enabled_) return;
  std::cerr << '\r' << text << "\x1b[K" << std::flush;
  shown_ = true;
}

void Progress::Done() {
  if (shown_) std::cerr << '\n' << std::flush;
  shown_ = false;
}

void Progress::Clear() {
  if (shown_) std::cerr << "\r\x1b[K" << std::flush;
  shown_ = false;
}

bool StderrIsTerminal() { return isatty(STDERR_FILENO) != 0; }

std::string Mb(uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}

}  // namespace nimbus::cli
