#pragma once
// The --metrics-file: written so that a reader (node_exporter's textfile
// collector) sees the previous complete file or the new one, never a part.
#include <string>

namespace promblock::tools {

// Writes `text` into a temporary file beside `path` (".NAME.tmp-PID": the
// textfile collector reads only *.prom files), fsyncs it, renames it over
// `path` and fsyncs the directory. Temporary files that runs killed before
// their rename left (their process gone) are removed first.
void write_metrics_file(const std::string& path, const std::string& text);

// The file's text; "" when it does not exist or cannot be read (the old
// file is only consulted for the last success time).
std::string read_metrics_file(const std::string& path);

}  // namespace promblock::tools
