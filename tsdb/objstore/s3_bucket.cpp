#include "tsdb/objstore/s3_bucket.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/objstore/s3_url.h"

namespace promblock::objstore {

namespace {

double random_unit() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::string random_hex(int digits) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < digits; ++i) out += kHex[rng() % 16];
  return out;
}

std::string transport_text(const HttpResponse& resp) {
  if (resp.curl_code == CURLE_COULDNT_CONNECT && resp.os_errno == ECONNREFUSED)
    return "connection refused";
  if (resp.curl_code == CURLE_OPERATION_TIMEDOUT) return "timed out: " + resp.transport_error;
  return resp.transport_error;
}

// A download's temporary file, beside its destination: renamed into place
// only once complete.
std::string tmp_beside(const std::string& path) {
  return fsutil::parent_of(path) + "/.promblock-tmp-" + std::to_string(getpid()) + "-" +
         random_hex(8) + "-" + fsutil::base_name(path);
}

}  // namespace

S3Bucket::S3Bucket(S3Options options) : opt_(std::move(options)) {
  if (opt_.bucket.empty()) fail("s3://", "no bucket name configured");
  if (opt_.endpoint.empty()) fail(describe(), "no endpoint configured");
  if (opt_.part_size < opt_.min_part_size)
    fail(describe(), "part_size " + std::to_string(opt_.part_size) + " is below S3's minimum of " +
                         std::to_string(opt_.min_part_size) + " bytes");
  if (opt_.retry.tries < 1) opt_.retry.tries = 1;
  if (opt_.upload_threads < 1) opt_.upload_threads = 1;
  http_global_init();
}

std::string S3Bucket::url(const std::string& name, const std::string& query) const {
  std::string out = opt_.insecure ? "http://" : "https://";
  if (opt_.virtual_hosted)
    out += opt_.bucket + "." + opt_.endpoint + "/";
  else
    out += opt_.endpoint + "/" + aws_uri_encode(opt_.bucket, false) + (name.empty() ? "" : "/");
  out += aws_uri_encode(name, true);
  if (!query.empty()) out += "?" + query;
  return out;
}

HttpRequest S3Bucket::request(const std::string& method, std::string url) const {
  HttpRequest req;
  req.method = method;
  req.url = std::move(url);
  // curl 7.88 signs with whatever x-amz-content-sha256 says but does not add
  // it, and S3 refuses requests without it.
  req.headers.push_back("x-amz-content-sha256: UNSIGNED-PAYLOAD");
  if (!opt_.credentials.session_token.empty())
    req.headers.push_back("x-amz-security-token: " + opt_.credentials.session_token);
  return req;
}

HttpResponse S3Bucket::call(const std::string& name, const std::string& op, HttpRequest req,
                            std::initializer_list<long> accept, bool body_may_hold_error) {
  for (int attempt = 1;; ++attempt) {
    if (req.out_fd >= 0 &&
        (::ftruncate(req.out_fd, 0) != 0 || ::lseek(req.out_fd, 0, SEEK_SET) != 0))
      fail_errno(describe_object(name), op + ": truncating the local file");
    HttpResponse resp = http_perform(opt_.credentials, opt_.limits, req);
    if (resp.write_errno) {
      errno = resp.write_errno;
      fail_errno(describe_object(name), op + ": writing the local file");
    }
    if (resp.read_errno) {
      errno = resp.read_errno;
      fail_errno(describe_object(name), op + ": reading the local file");
    }
    bool retry;
    std::string problem;
    if (resp.curl_code != CURLE_OK) {
      retry = is_retryable_transport(resp.curl_code);
      problem = transport_text(resp);
    } else {
      bool ok = (resp.status >= 200 && resp.status < 300) ||
                std::find(accept.begin(), accept.end(), resp.status) != accept.end();
      // CompleteMultipartUpload can fail after "200 OK": the error is in the body.
      auto err = (!ok || body_may_hold_error) ? parse_error_body(resp.body) : std::nullopt;
      if (ok && !err) return resp;
      retry = is_retryable_http(resp.status, err ? err->code : "");
      problem = http_text(resp.status, err);
    }
    if (!retry || attempt >= opt_.retry.tries) {
      if (attempt > 1) problem += " (after " + std::to_string(attempt) + " tries)";
      fail(describe_object(name), op, problem);
    }
    std::this_thread::sleep_for(backoff_delay(opt_.retry, attempt, random_unit()));
  }
}

void S3Bucket::list_pages(const std::string& prefix, bool dirs,
                          const std::function<void(ListPage&)>& sink) {
  std::string token;
  do {
    std::map<std::string, std::string> params{{"list-type", "2"}, {"prefix", prefix}};
    // (size, char): GCC 12 warns -Wrestrict on assigning the literal "/".
    if (dirs) params.try_emplace("delimiter", 1, '/');
    if (opt_.max_keys > 0) params["max-keys"] = std::to_string(opt_.max_keys);
    if (!token.empty()) params["continuation-token"] = token;
    HttpResponse resp = call(prefix, "list", request("GET", url("", canonical_query(params))));
    ListPage page = parse_list_page(resp.body, describe_object(prefix));
    sink(page);
    token = page.truncated ? page.next_token : "";
  } while (!token.empty());
}

std::vector<ObjectInfo> S3Bucket::list(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  list_pages(prefix, false, [&](ListPage& page) {
    for (auto& o : page.objects) out.push_back(std::move(o));
  });
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

std::vector<std::string> S3Bucket::list_dirs(const std::string& prefix) {
  std::vector<std::string> out;
  list_pages(prefix, true, [&](ListPage& page) {
    for (auto& p : page.prefixes) out.push_back(std::move(p));
  });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<std::string> S3Bucket::get(const std::string& name) {
  HttpResponse resp = call(name, "GET", request("GET", url(name)), {404});
  if (resp.status == 404) {
    // A missing bucket is a configuration error, not a missing object.
    auto err = parse_error_body(resp.body);
    if (err && err->code == "NoSuchBucket") fail(describe_object(name), "GET", http_text(404, err));
    return std::nullopt;
  }
  return std::move(resp.body);
}

void S3Bucket::download(const std::string& name, const std::string& local_path,
                        std::optional<uint64_t> expected_size) {
  std::string tmp = tmp_beside(local_path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_errno(local_path, "creating a temporary file beside it");
  try {
    HttpRequest req = request("GET", url(name));
    req.out_fd = fd;
    call(name, "GET", std::move(req));
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail_errno(tmp, "stat");
    if (expected_size && uint64_t(st.st_size) != *expected_size)
      fail(describe_object(name), "GET",
           "size " + std::to_string(st.st_size) + " bytes, expected " +
               std::to_string(*expected_size));
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) fail_errno(tmp, "closing");
    fsutil::rename_unsynced(tmp, local_path);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
}

void S3Bucket::put(const std::string& name, std::string_view bytes) {
  HttpRequest req = request("PUT", url(name));
  req.body = bytes;
  call(name, "PUT", std::move(req));
}

void S3Bucket::remove(const std::string& name) {
  call(name, "DELETE", request("DELETE", url(name)), {404});
}

bool S3Bucket::put_if_none_match(const std::string& name, std::string_view bytes) {
  HttpRequest req = request("PUT", url(name));
  req.body = bytes;
  req.headers.push_back("If-None-Match: *");
  HttpResponse resp = call(name, "PUT", std::move(req), {409, 412});
  if (resp.status == 409) {
    auto err = parse_error_body(resp.body);
    // A conditional write of the same name racing ours: it exists, or will.
    if (!err || err->code != "ConditionalRequestConflict")
      fail(describe_object(name), "PUT", http_text(409, err));
  }
  return resp.status < 300;
}

bool S3Bucket::server_honours_if_none_match(const std::string& name) {
  std::lock_guard lock(probe_mu_);
  if (if_none_match_works_) return *if_none_match_works_;
  std::string probe = name + ".probe-" + random_hex(16);
  bool works = false;
  try {
    // A server that refuses the header outright (400, 501) does not support it either.
    HttpRequest first = request("PUT", url(probe));
    first.headers.push_back("If-None-Match: *");
    if (call(probe, "PUT", first, {400, 501}).status < 300) works = !put_if_none_match(probe, "");
  } catch (...) {
    try {
      remove(probe);
    } catch (...) {
    }
    throw;
  }
  remove(probe);
  if_none_match_works_ = works;
  return works;
}

CreateResult S3Bucket::create_if_absent(const std::string& name, std::string_view bytes) {
  if (!server_honours_if_none_match(name)) return CreateResult::kNotSupported;
  return put_if_none_match(name, bytes) ? CreateResult::kCreated : CreateResult::kExists;
}

}  // namespace promblock::objstore
