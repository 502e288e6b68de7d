#pragma once
// Thanos's S3 bucket over libcurl: any S3-compatible store (AWS, MinIO,
// Ceph...) reached with AWS Signature V4.
//
// create_if_absent() sends PUT with "If-None-Match: *", which AWS S3 (since
// 2024) and recent MinIO honour. Some servers accept the header and ignore
// it, overwriting the object: that would silently break the promise. So the
// first call per S3Bucket writes a probe object ("<name>.probe-<random>")
// twice with the header; when the second write succeeds too, the server
// ignores it and create_if_absent() answers kNotSupported (writing nothing)
// from then on. The probe is removed afterwards.
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <optional>

#include "tsdb/objstore/bucket.h"
#include "tsdb/objstore/s3_http.h"
#include "tsdb/objstore/s3_retry.h"
#include "tsdb/objstore/s3_xml.h"

namespace promblock::objstore {

struct S3Options {
  std::string bucket;
  std::string endpoint;  // host[:port], no scheme
  S3Credentials credentials;
  bool insecure = false;        // http:// instead of https://
  bool virtual_hosted = false;  // https://bucket.endpoint/key instead of endpoint/bucket/key
  uint64_t part_size = uint64_t(64) << 20;
  bool disable_multipart = false;  // upload() always in one PUT
  HttpLimits limits;
  RetryPolicy retry;
  int upload_threads = 4;  // parts in flight at once (read from the file as sent)
  // Below this part_size is refused: S3's minimum for all parts but the last.
  // Lower only for tests.
  uint64_t min_part_size = uint64_t(5) << 20;
  int max_keys = 0;  // listing page size; 0: the server's default (1000)
};

class S3Bucket : public Bucket {
 public:
  explicit S3Bucket(S3Options options);

  std::string describe() const override { return "s3://" + opt_.bucket; }
  std::vector<ObjectInfo> list(const std::string& prefix) override;
  std::vector<std::string> list_dirs(const std::string& prefix) override;
  std::optional<std::string> get(const std::string& name) override;
  void download(const std::string& name, const std::string& local_path,
                std::optional<uint64_t> expected_size) override;
  void put(const std::string& name, std::string_view bytes) override;
  void upload(const std::string& name, const std::string& local_path) override;
  CreateResult create_if_absent(const std::string& name, std::string_view bytes) override;
  void remove(const std::string& name) override;

 private:
  // The URL of an object (empty name: the bucket) with a canonical query.
  std::string url(const std::string& name, const std::string& query = "") const;
  // Performs `req` with retries. Returns the response when its status is
  // 2xx or in `accept`; throws "<object>: <op>: <what went wrong>" otherwise.
  HttpResponse call(const std::string& name, const std::string& op, HttpRequest req,
                    std::initializer_list<long> accept = {}, bool body_may_hold_error = false);
  HttpRequest request(const std::string& method, std::string url) const;
  void list_pages(const std::string& prefix, bool dirs, const std::function<void(ListPage&)>& sink);
  void upload_multipart(const std::string& name, const std::string& local_path, uint64_t size);
  // True when the object `name` exists and holds `size` bytes.
  bool has_object_of_size(const std::string& name, uint64_t size);
  void upload_parts(const std::string& name, const std::string& local_path, uint64_t size,
                    uint64_t part_size, const std::string& upload_id,
                    std::vector<std::string>& etags);
  bool put_if_none_match(const std::string& name, std::string_view bytes);
  bool server_honours_if_none_match(const std::string& name);

  S3Options opt_;
  std::mutex probe_mu_;
  std::optional<bool> if_none_match_works_;  // after the probe
};

}  // namespace promblock::objstore
