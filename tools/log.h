#pragma once
// What promblock says on stderr besides results: log lines (notices,
// warnings, errors) in the format --log-format asks for, silenced by
// --quiet except for errors, and a progress line that only a terminal sees.
#include <chrono>
#include <cstdint>
#include <string>

namespace promblock::tools {

enum class LogFormat { kText, kLogfmt, kJson };

struct LogSettings {
  bool quiet = false;
  LogFormat format = LogFormat::kText;
};
LogSettings& log_settings();

// One line on stderr. text: "promblock: MSG"; logfmt: ts=... level=...
// msg="..."; json: {"ts":...,"level":...,"msg":...}. Info lines are left
// out under --quiet; errors never are.
void log_info(const std::string& msg);
// A warning is something the user asked for that did not happen while the
// run's own work did (a metrics push): shown under --quiet too.
void log_warning(const std::string& msg);
void log_error(const std::string& msg);

// A progress line on stderr, redrawn at most a few times a second, only
// when stderr is a terminal and not under --quiet; cleared when done.
class Progress {
 public:
  // A `total` for work whose size is not known ahead (restore reads a
  // stream): the line shows units done and bytes, without "/total" or ETA.
  static constexpr uint64_t kUnknownTotal = UINT64_MAX;

  // `what` names the work ("merging series"); `total` counts its units.
  Progress(std::string what, uint64_t total);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` units so far, and optionally bytes handled so far.
  void update(uint64_t done, uint64_t bytes = 0);
  void set_total(uint64_t total) { total_ = total; }
  // Takes the line off the terminal so that a log line can be printed;
  // the next update() draws it again.
  void clear();
  // Clears the line (before results are printed); the destructor does too.
  void finish();

 private:
  std::string what_;
  uint64_t total_;
  bool shown_ = false;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace promblock::tools
