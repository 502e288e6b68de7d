#include "tsdb/objstore/s3_retry.h"

#include <curl/curl.h>

#include <algorithm>

namespace promblock::objstore {

bool is_retryable_http(long status, std::string_view s3_code) {
  if (s3_code == "SlowDown" || s3_code == "InternalError" || s3_code == "RequestTimeout")
    return true;
  return status >= 500 || status == 429;
}

bool is_retryable_transport(int curl_code) {
  switch (curl_code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int failed_tries,
                                        double jitter) {
  int64_t delay = policy.initial.count();
  for (int i = 1; i < failed_tries && delay < policy.max_delay.count(); ++i) delay *= 2;
  delay = std::min<int64_t>(delay, policy.max_delay.count());
  jitter = std::clamp(jitter, 0.0, 1.0);
  return std::chrono::milliseconds(int64_t(double(delay) * (0.5 + 0.5 * jitter)));
}

}  // namespace promblock::objstore
