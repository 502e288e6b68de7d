#pragma once
// SHA-256 of a file, as Thanos records it in meta.json (files[].hash).
#include <string>

namespace promblock::remote {

// Lower-case hex; throws Error naming the file when it cannot be read.
std::string sha256_file_hex(const std::string& path);

}  // namespace promblock::remote
