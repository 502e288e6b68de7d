#include "tools/pushgateway.h"

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "tsdb/objstore/curl_lazy.h"
#include "tsdb/objstore/s3_http.h"
#include "tsdb/objstore/s3_url.h"

namespace promblock::tools {

namespace {

std::string base64url(const std::string& in) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 |
                 uint32_t(uint8_t(in[i + 2]));
    for (int s = 18; s >= 0; s -= 6) out += alphabet[(n >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    out.append({alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], '=', '='});
  } else if (i + 2 == in.size()) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8;
    out.append({alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], alphabet[(n >> 6) & 63], '='});
  }
  return out;
}

void append_pair(std::string& path, const std::string& name, const std::string& value) {
  path.append("/").append(name);
  if (value.empty())
    path.append("@base64/=");  // the Pushgateway's spelling of an empty value
  else if (value.find('/') != std::string::npos)
    path.append("@base64/").append(base64url(value));
  else
    path.append("/").append(objstore::aws_uri_encode(value, /*keep_slash=*/false));
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

std::string push_once(const PushRequest& r, const std::string& url) {
  std::unique_ptr<CURL, CurlFree> c(curl_easy_init());
  if (!c) {
    std::string why = objstore::curl_load_error();
    return why.empty() ? "curl_easy_init failed" : why;
  }
  std::unique_ptr<curl_slist, SlistFree> headers(
      curl_slist_append(nullptr, "Content-Type: text/plain; version=0.0.4"));
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* h = c.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.body.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(r.body.size()));
  if (r.replace) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 15000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) return errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) return "HTTP status " + std::to_string(status);
  return "";
}

}  // namespace

std::string push_path(const PushRequest& r) {
  std::string path = "/metrics";
  append_pair(path, "job", r.job);
  for (const auto& [k, v] : r.grouping) append_pair(path, k, v);
  return path;
}

std::string push_metrics(const PushRequest& r) {
  objstore::http_global_init();
  std::string base = r.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + push_path(r);
  std::string err = push_once(r, url);
  if (err.empty()) return err;
  // One retry: a Pushgateway restarting or a dropped connection is common
  // and short; more would hold up cron for little.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  err = push_once(r, url);
  return err.empty() ? err : std::string(r.replace ? "PUT " : "POST ") + url + ": " + err;
}

}  // namespace promblock::tools
