// S3Bucket::upload: one PUT for a file up to part_size, else a multipart
// upload whose parts are sent by a few threads at a time. Bodies are read
// from the file as curl sends them, so memory stays small whatever the
// file's or the parts' size.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "tsdb/base/error.h"
#include "tsdb/objstore/s3_bucket.h"
#include "tsdb/objstore/s3_url.h"

namespace promblock::objstore {

namespace {

constexpr uint64_t kMaxParts = 10000;

// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int open_for_reading(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno(path, "opening");
  return fd;
}

std::string part_query(size_t part_number, const std::string& upload_id) {
  return canonical_query({{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}});
}

}  // namespace

void S3Bucket::upload(const std::string& name, const std::string& local_path) {
  Fd file{open_for_reading(local_path)};
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) fail_errno(local_path, "stat");
  uint64_t size = uint64_t(st.st_size);
  if (size > opt_.part_size && !opt_.disable_multipart) {
    upload_multipart(name, local_path, size);
    return;
  }
  HttpRequest req = request("PUT", url(name));
  req.body_fd = file.fd;
  req.body_size = size;
  call(name, "PUT", std::move(req));
}

void S3Bucket::upload_multipart(const std::string& name, const std::string& local_path,
                                uint64_t size) {
  HttpRequest create = request("POST", url(name, "uploads="));
  // The object's type (else curl's form type for POST would be).
  create.headers.push_back("Content-Type: application/octet-stream");
  HttpResponse created = call(name, "POST ?uploads", std::move(create));
  std::string upload_id = parse_upload_id(created.body, describe_object(name));
  std::string id_query = canonical_query({{"uploadId", upload_id}});
  try {
    // S3 allows 10000 parts: a file beyond 10000 x part_size gets larger parts.
    uint64_t part_size = std::max(opt_.part_size, (size + kMaxParts - 1) / kMaxParts);
    std::vector<std::string> etags((size + part_size - 1) / part_size);
    upload_parts(name, local_path, size, part_size, upload_id, etags);
    std::string xml = complete_multipart_xml(etags);
    HttpRequest done = request("POST", url(name, id_query));
    done.headers.push_back("Content-Type: application/xml");
    done.body = xml;
    try {
      call(name, "POST ?uploadId", std::move(done), {}, true);
    } catch (const Error&) {
      // A try whose answer was lost may have completed the upload, and the
      // retries then find it gone (NoSuchUpload; s3rver answers 500): the
      // object, at its size, is the upload's. (Names here are ULID paths,
      // written once: an object of that name is this upload's data.)
      if (!has_object_of_size(name, size)) throw;
    }
  } catch (...) {
    // Without the abort the store keeps the parts (and bills for them).
    try {
      call(name, "DELETE ?uploadId", request("DELETE", url(name, id_query)));
    } catch (...) {
    }
    throw;
  }
}

bool S3Bucket::has_object_of_size(const std::string& name, uint64_t size) {
  for (const auto& o : list(name))
    if (o.name == name) return o.size == size;
  return false;
}

void S3Bucket::upload_parts(const std::string& name, const std::string& local_path, uint64_t size,
                            uint64_t part_size, const std::string& upload_id,
                            std::vector<std::string>& etags) {
  Fd file{open_for_reading(local_path)};
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mu;
  auto worker = [&] {
    try {
      for (size_t i; !failed && (i = next++) < etags.size();) {
        uint64_t offset = i * part_size;
        HttpRequest req = request("PUT", url(name, part_query(i + 1, upload_id)));
        req.body_fd = file.fd;  // pread: the threads share the descriptor
        req.body_offset = offset;
        req.body_size = std::min(part_size, size - offset);
        std::string op = "PUT part " + std::to_string(i + 1);
        HttpResponse resp = call(name, op, std::move(req));
        if (resp.etag.empty()) fail(describe_object(name), op, "answer without an ETag");
        etags[i] = resp.etag;
      }
    } catch (...) {
      std::lock_guard lock(error_mu);
      if (!first_error) first_error = std::current_exception();
      failed = true;
    }
  };
  size_t n = std::min<size_t>(size_t(opt_.upload_threads), etags.size());
  std::vector<std::jthread> threads;
  for (size_t t = 0; t < n; ++t) threads.emplace_back(worker);
  threads.clear();  // joins
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace promblock::objstore
