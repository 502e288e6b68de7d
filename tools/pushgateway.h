#pragma once
// Pushes a run's metrics to a Prometheus Pushgateway over its HTTP API:
// /metrics/job/<job>{/<label>/<value>} names the group the metrics replace.
#include <string>
#include <utility>
#include <vector>

namespace promblock::tools {

struct PushRequest {
  std::string url;  // the Pushgateway's base URL, e.g. http://pgw:9091
  std::string job;
  std::vector<std::pair<std::string, std::string>> grouping;  // after job, in order
  std::string body;                                           // text exposition format
  // PUT replaces every metric of the group; POST only those of the names
  // in the body (a failed run keeps the group's last success that way).
  bool replace = true;
};

// The request path: each value percent-encoded, or as `name@base64/...`
// (URL-safe base64) where it holds a '/' or is empty, which the
// Pushgateway's path syntax cannot carry otherwise.
std::string push_path(const PushRequest& r);

// Sends the request (connect timeout 5 s, whole request 15 s, one retry
// after a second). Returns "" on a 2xx answer, otherwise what went wrong.
std::string push_metrics(const PushRequest& r);

}  // namespace promblock::tools
