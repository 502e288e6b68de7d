#pragma once
// An object store as Thanos sees one: a flat name space of objects whose
// names use '/' as a separator ("01H.../chunks/000001"), read whole or into a
// file, written whole, listed by prefix. Blocks live in it under their ULID;
// the bucket layer knows nothing about blocks.
//
// Every failure throws promblock::Error whose path is the object's full
// name as describe_object() gives it ("s3://bucket/01H.../index"), so the
// one-line message names the object.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace promblock::objstore {

struct ObjectInfo {
  std::string name;  // relative to the bucket (and its configured prefix)
  uint64_t size = 0;
};

// True when `name` stays inside wherever it is joined to: not empty, not
// absolute, no "..". Object names from a listing must pass it before they
// become local paths.
bool is_safe_relative_name(std::string_view name);

// What create_if_absent() could do.
enum class CreateResult {
  kCreated,       // the object did not exist and now holds the bytes
  kExists,        // it existed; nothing was written
  kNotSupported,  // the store cannot create atomically; nothing was written
};

class Bucket {
 public:
  virtual ~Bucket() = default;

  // "s3://bucket/prefix" or the directory: for messages.
  virtual std::string describe() const = 0;
  std::string describe_object(std::string_view name) const;

  // Every object whose name starts with `prefix`, at any depth, sorted by name.
  virtual std::vector<ObjectInfo> list(const std::string& prefix) = 0;
  // The names one level below `prefix` that have objects under them, each
  // ending in '/', sorted: S3's delimiter listing ("01H.../").
  virtual std::vector<std::string> list_dirs(const std::string& prefix) = 0;

  // A small object (meta.json, a mark) whole; nullopt when it does not exist.
  virtual std::optional<std::string> get(const std::string& name) = 0;
  // An object into a new local file, written fully or not at all; fails
  // when the object is absent or its length is not `expected_size` (given).
  // Not fsynced: downloads go to scratch, which no later run reads, and
  // syncing them would cost as much as the transfer.
  virtual void download(const std::string& name, const std::string& local_path,
                        std::optional<uint64_t> expected_size = std::nullopt) = 0;

  // Writes an object from bytes or from a local file. Visible to readers
  // only once complete (S3 PUT and multipart completion are atomic).
  virtual void put(const std::string& name, std::string_view bytes) = 0;
  virtual void upload(const std::string& name, const std::string& local_path) = 0;
  // Writes the object only if no object of that name exists, atomically
  // (S3: If-None-Match: *). kNotSupported where the store cannot promise it.
  virtual CreateResult create_if_absent(const std::string& name, std::string_view bytes) = 0;

  // Removes an object; an absent one is not an error.
  virtual void remove(const std::string& name) = 0;
};

}  // namespace promblock::objstore
