#pragma once
// When an S3 request is worth trying again, and how long to wait first.
// Kept apart from the transport so the rules are testable without a server.
#include <chrono>
#include <cstdint>
#include <string_view>

namespace promblock::objstore {

struct RetryPolicy {
  int tries = 5;                              // attempts in all, the first included
  std::chrono::milliseconds initial{200};     // wait after the first failure
  std::chrono::milliseconds max_delay{5000};  // waits double up to this
};

// An HTTP answer that may succeed if repeated: 5xx, 429 Too Many Requests,
// or an S3 error code that means "busy" whatever the status (SlowDown,
// InternalError, RequestTimeout). Other 4xx are the request's own fault.
bool is_retryable_http(long status, std::string_view s3_code);

// A libcurl result (CURLcode) that is a transport hiccup: refused or reset
// connections, timeouts, a body cut short. Not bad URLs or local write errors.
bool is_retryable_transport(int curl_code);

// The wait before try number `failed_tries` + 1: initial * 2^(failed_tries - 1),
// capped, then scaled by `jitter` in [0, 1] into [50%, 100%] of that so that
// clients that failed together do not retry together.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int failed_tries, double jitter);

}  // namespace promblock::objstore
