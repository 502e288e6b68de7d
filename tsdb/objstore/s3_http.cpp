#include "tsdb/objstore/s3_http.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "tsdb/objstore/curl_lazy.h"

namespace promblock::objstore {

namespace {

struct Transfer {
  const HttpRequest* req;
  HttpResponse* resp;
  CURL* curl;
  uint64_t sent = 0;
};

uint64_t body_size(const HttpRequest& req) {
  return req.body_fd >= 0 ? req.body_size : req.body.size();
}

size_t on_read(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size_t(std::min<uint64_t>(size * n, body_size(*t->req) - t->sent));
  if (t->req->body_fd < 0) {
    std::memcpy(buf, t->req->body.data() + t->sent, len);
  } else if (len > 0) {
    ssize_t got;
    do {
      got = ::pread(t->req->body_fd, buf, len, off_t(t->req->body_offset + t->sent));
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {  // an error, or the file shrank under us
      t->resp->read_errno = got < 0 ? errno : EIO;
      return CURL_READFUNC_ABORT;
    }
    len = size_t(got);
  }
  t->sent += len;
  return len;
}

// curl rewinds the body when it must send the request again itself (a
// kept-alive connection the server had closed); without this it cannot.
int on_seek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || uint64_t(offset) > body_size(*t->req))
    return CURL_SEEKFUNC_CANTSEEK;
  t->sent = uint64_t(offset);
  return CURL_SEEKFUNC_OK;
}

// A 2xx body goes to out_fd when there is one; anything else (error XML) to memory.
size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->req->out_fd < 0 || status < 200 || status >= 300) {
    t->resp->body.append(data, len);
    return len;
  }
  for (size_t done = 0; done < len;) {
    ssize_t w = ::write(t->req->out_fd, data + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      t->resp->write_errno = w < 0 ? errno : ENOSPC;
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    done += size_t(w);
  }
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.size() > 5 && strncasecmp(line.data(), "etag:", 5) == 0) {
    line.remove_prefix(5);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' '))
      line.remove_suffix(1);
    t->resp->etag = line;
  }
  return size * n;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

CURL* thread_handle() {
  thread_local std::unique_ptr<CURL, CurlDeleter> handle;
  if (!handle) {
    http_global_init();
    handle.reset(curl_easy_init());
    if (!handle) {
      std::string why = curl_load_error();
      throw std::runtime_error(why.empty() ? "curl_easy_init failed" : why);
    }
  } else {
    curl_easy_reset(handle.get());
  }
  return handle.get();
}

void set_method(CURL* c, const HttpRequest& req, Transfer& t) {
  if (req.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, curl_off_t(body_size(req)));
  } else if (req.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data() ? req.body.data() : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(req.body.size()));
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
}

void set_limits(CURL* c, const HttpLimits& limits) {
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(limits.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                   std::max(1L, long(limits.stall_timeout.count() / 1000)));
  curl_easy_setopt(c, CURLOPT_MAXAGE_CONN, std::max(1L, long(limits.idle_timeout.count() / 1000)));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  if (limits.skip_tls_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!limits.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, limits.ca_file.c_str());
  if (!limits.cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, limits.cert_file.c_str());
  if (!limits.key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, limits.key_file.c_str());
}

}  // namespace

void http_global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpResponse http_perform(const S3Credentials& creds, const HttpLimits& limits,
                          const HttpRequest& req) {
  HttpResponse resp;
  CURL* c = thread_handle();
  Transfer t{&req, &resp, c};
  char errbuf[CURL_ERROR_SIZE] = "";
  std::string sigv4 = "aws:amz:" + creds.region + ":s3";
  std::string userpwd = creds.access_key + ":" + creds.secret_key;
  struct curl_slist* headers = nullptr;
  for (const auto& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(c, CURLOPT_USERPWD, userpwd.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  set_limits(c, limits);
  set_method(c, req, t);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  resp.curl_code = int(rc);
  curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &resp.os_errno);
  if (rc != CURLE_OK) resp.transport_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  return resp;
}

}  // namespace promblock::objstore
