#pragma once
// --external-label [SOURCE:]NAME=VALUE, for blocks of plain Prometheus data
// dirs, which carry no external labels: the labels a Thanos sidecar would
// have given them (Prometheus's global.external_labels). Without SOURCE the
// label is assumed for every source; with it, for that SOURCE argument
// alone (written exactly as given on the command line).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace promblock::tools {

using LabelMap = std::map<std::string, std::string>;

// The labels assumed per source argument index; index sources.size() (an
// output directory) gets the labels given without SOURCE. Throws
// UsageError naming the flag on a bad spec or a SOURCE that was not given.
std::map<uint32_t, LabelMap> parse_external_labels(const std::vector<std::string>& specs,
                                                   const std::vector<std::string>& sources);

}  // namespace promblock::tools
