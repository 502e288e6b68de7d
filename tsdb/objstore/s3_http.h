#pragma once
// One HTTP request to S3 through libcurl, signed with AWS Signature V4 by
// curl itself (CURLOPT_AWS_SIGV4). No retries here: see S3Bucket::call.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace promblock::objstore {

struct S3Credentials {
  std::string access_key, secret_key, session_token;
  std::string region;
};

struct HttpLimits {
  std::chrono::milliseconds connect_timeout{10000};
  // A try fails when less than 1 byte/s moves for this long (a stalled
  // server), rather than a total time limit that large objects would hit.
  std::chrono::milliseconds stall_timeout{120000};
  // A kept-alive connection idle longer than this is not reused (servers
  // close idle ones; reusing one they just closed costs a failed try).
  std::chrono::milliseconds idle_timeout{90000};
  bool skip_tls_verify = false;
  // TLS as Thanos's http_config.tls_config sets it: a CA bundle to trust
  // (a private CA), and a client certificate and key; empty: the system's
  // trust store, no client certificate.
  std::string ca_file, cert_file, key_file;
};

struct HttpRequest {
  std::string method = "GET";  // GET, PUT, POST, DELETE
  std::string url;             // already canonical (see s3_url.h)
  std::vector<std::string> headers;
  std::string_view body;  // sent by PUT and POST
  // A PUT body read from this file instead (body_size bytes at
  // body_offset), as curl sends it: a part of any size costs no memory.
  int body_fd = -1;
  uint64_t body_offset = 0, body_size = 0;
  int out_fd = -1;  // a 2xx body goes to this file instead of memory
};

struct HttpResponse {
  long status = 0;    // 0 when no answer came
  std::string body;   // a non-2xx body always; a 2xx one unless out_fd
  std::string etag;   // the ETag header
  int curl_code = 0;  // CURLcode; non-zero: transport_error says what
  std::string transport_error;
  long os_errno = 0;    // CURLINFO_OS_ERRNO: why a connect failed
  int write_errno = 0;  // writing out_fd failed with this
  int read_errno = 0;   // reading body_fd failed with this
};

// Performs the request on this thread's curl handle (reused so keep-alive
// connections are, and never shared between threads).
HttpResponse http_perform(const S3Credentials& creds, const HttpLimits& limits,
                          const HttpRequest& req);

// curl_global_init, once per process (not thread-safe in curl 7.88 itself).
void http_global_init();

}  // namespace promblock::objstore
