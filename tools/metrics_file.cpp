#include "tools/metrics_file.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tsdb/base/fsutil.h"

namespace promblock::tools {

namespace {

namespace fs = std::filesystem;

void remove_dead_temp_files(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = pid_t(std::stol(pid_text));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    fs::remove(it->path(), rm);
  }
}

}  // namespace

void write_metrics_file(const std::string& path, const std::string& text) {
  std::string dir = fsutil::parent_of(path);
  std::string prefix = ".";
  prefix.append(fsutil::base_name(path)).append(".tmp-");
  remove_dead_temp_files(dir, prefix);
  std::string tmp = dir;
  tmp.append("/").append(prefix).append(std::to_string(::getpid()));
  try {
    fsutil::write_file_synced(tmp, text);
    fsutil::rename_synced(tmp, path);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

std::string read_metrics_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace promblock::tools
