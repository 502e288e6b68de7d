#include "tools/log.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace promblock::tools {

namespace {

std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t s = std::time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms % 1000));
  return buf;
}

// logfmt quotes a value with spaces, quotes or '=' in it, escaping as Go's %q.
std::string logfmt_value(const std::string& v) {
  bool plain = !v.empty() && v.find_first_of(" \"=\\\n\t") == std::string::npos;
  if (plain) return v;
  return nlohmann::json(v).dump();  // a JSON string is a valid Go-quoted one here
}

void log_line(const char* level, const std::string& msg) {
  std::string line;
  switch (log_settings().format) {
    case LogFormat::kText:
      line = "promblock: " + msg;
      break;
    case LogFormat::kLogfmt:
      line = "ts=" + now_rfc3339() + " level=" + level + " msg=" + logfmt_value(msg);
      break;
    case LogFormat::kJson:
      line = nlohmann::ordered_json{{"ts", now_rfc3339()}, {"level", level}, {"msg", msg}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
      break;
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

}  // namespace

LogSettings& log_settings() {
  static LogSettings settings;
  return settings;
}

void log_info(const std::string& msg) {
  if (!log_settings().quiet) log_line("info", msg);
}

void log_warning(const std::string& msg) {
  log_line("warn", log_settings().format == LogFormat::kText ? "warning: " + msg : msg);
}

void log_error(const std::string& msg) { log_line("error", msg); }

Progress::Progress(std::string what, uint64_t total)
    : what_(std::move(what)),
      total_(total),
      enabled_(!log_settings().quiet && ::isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_() {}

Progress::~Progress() { finish(); }

void Progress::clear() {
  if (shown_) std::fputs("\r\033[K", stderr);
  shown_ = false;
}

void Progress::finish() {
  clear();
  enabled_ = false;
}

void Progress::update(uint64_t done, uint64_t bytes) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(200) && done < total_) return;
  last_ = now;
  shown_ = true;
  double secs = std::chrono::duration<double>(now - start_).count();
  bool known = total_ != kUnknownTotal;
  // Appended piecewise: GCC 12 misreads `"literal" + std::string` chains
  // as overlapping copies (-Wrestrict).
  std::string line = "\r";
  line += what_;
  line += ' ';
  line += std::to_string(done);
  if (known) line.append("/").append(std::to_string(total_));
  if (bytes > 0) {
    line.append(", ").append(human_bytes(double(bytes)));
    if (secs > 0) line.append(", ").append(human_bytes(double(bytes) / secs)).append("/s");
  }
  if (known && done > 0 && done < total_ && secs > 0.5) {
    double eta = secs * double(total_ - done) / double(done);
    char buf[32];
    std::snprintf(buf, sizeof buf, ", ETA %.0fs", eta);
    line += buf;
  }
  line += "\033[K";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace promblock::tools
