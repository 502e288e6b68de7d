// Test helper for tests/e2e/test_s3_bucket.py: runs one Bucket operation on
// the bucket a Thanos objstore config file describes.
//
//   s3_bucket_tool [OPTIONS] CONFIG COMMAND ARGS...
//     put NAME            (the object's bytes on stdin)
//     put-many PREFIX N   (N small objects PREFIX00000.. in parallel)
//     get NAME            (to stdout; exit 3 when absent)
//     list PREFIX | list-dirs PREFIX
//     upload NAME FILE | download NAME FILE [SIZE]
//     create NAME         (stdin; prints created, exists or not-supported)
//     remove NAME
//   OPTIONS: --max-keys N --min-part-size BYTES --retry-ms MS --tries N
//
// A failure prints the error's one line on stderr and exits 1.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tsdb/base/error.h"
#include "tsdb/objstore/config.h"

using namespace promblock::objstore;

namespace {

std::string read_stdin() {
  return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
}

void put_many(Bucket& bucket, const std::string& prefix, int n) {
  std::exception_ptr error;
  std::mutex mu;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        try {
          for (int i = t; i < n; i += 8) {
            char name[16];
            std::snprintf(name, sizeof name, "%05d", i);
            bucket.put(prefix + name, std::to_string(i));
          }
        } catch (...) {
          std::lock_guard lock(mu);
          error = std::current_exception();
        }
      });
    }
  }
  if (error) std::rethrow_exception(error);
}

int run(Bucket& bucket, const std::vector<std::string>& a) {
  const std::string& cmd = a[0];
  auto want = [&](size_t n) {
    if (a.size() < n + 1)
      throw std::invalid_argument(cmd + " needs " + std::to_string(n) + " args");
  };
  if (cmd == "put") {
    want(1), bucket.put(a[1], read_stdin());
  } else if (cmd == "put-many") {
    want(2), put_many(bucket, a[1], std::stoi(a[2]));
  } else if (cmd == "get") {
    want(1);
    auto bytes = bucket.get(a[1]);
    if (!bytes) return 3;
    std::cout << *bytes;
  } else if (cmd == "list") {
    want(1);
    for (const auto& o : bucket.list(a[1])) std::cout << o.name << " " << o.size << "\n";
  } else if (cmd == "list-dirs") {
    want(1);
    for (const auto& d : bucket.list_dirs(a[1])) std::cout << d << "\n";
  } else if (cmd == "upload") {
    want(2), bucket.upload(a[1], a[2]);
  } else if (cmd == "download") {
    want(2);
    std::optional<uint64_t> size;
    if (a.size() > 3) size = std::stoull(a[3]);
    bucket.download(a[1], a[2], size);
  } else if (cmd == "create") {
    want(1);
    static const char* kNames[] = {"created", "exists", "not-supported"};
    std::cout << kNames[int(bucket.create_if_absent(a[1], read_stdin()))] << "\n";
  } else if (cmd == "remove") {
    want(1), bucket.remove(a[1]);
  } else {
    throw std::invalid_argument("unknown command " + cmd);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    size_t i = 0;
    std::vector<std::pair<std::string, std::string>> opts;
    for (; i + 1 < args.size() && args[i].rfind("--", 0) == 0; i += 2)
      opts.emplace_back(args[i], args[i + 1]);
    if (args.size() < i + 2)
      throw std::invalid_argument("usage: s3_bucket_tool [OPTIONS] CONFIG COMMAND ARGS...");
    BucketConfig cfg = load_bucket_config(args[i], process_env());
    for (const auto& [k, v] : opts) {
      if (k == "--max-keys")
        cfg.s3.max_keys = std::stoi(v);
      else if (k == "--min-part-size")
        cfg.s3.min_part_size = std::stoull(v);
      else if (k == "--retry-ms")
        cfg.s3.retry.initial = std::chrono::milliseconds(std::stoi(v));
      else if (k == "--tries")
        cfg.s3.retry.tries = std::stoi(v);
      else
        throw std::invalid_argument("unknown option " + k);
    }
    auto bucket = open_bucket(cfg);
    return run(*bucket, std::vector<std::string>(args.begin() + long(i) + 1, args.end()));
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "s3_bucket_tool: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
