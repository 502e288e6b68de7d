#pragma once
// Moving whole blocks between a bucket and local directories, with the
// bucket's rules: a downloaded block appears locally only complete (each
// file checked against the listing and meta.json's Thanos file sizes), and
// an uploaded block becomes visible only once complete, because its
// meta.json goes last (chunks, then index, then meta.json, as Thanos
// uploads).
#include <string>

#include "tsdb/objstore/bucket.h"
#include "tsdb/remote/bucket_blocks.h"

namespace promblock::remote {

// Downloads `block` into <into_dir>/<ULID> (through a temporary directory
// beside it, renamed when every file is in) and returns that path. Throws
// Error naming the object that failed; nothing is left behind then.
std::string download_block(objstore::Bucket& bucket, const BucketBlock& block,
                           const std::string& into_dir);

// The checks of a download against meta.json's Thanos file list: before,
// that the listing has every file at its recorded size; after, that each
// file in `local_dir` with a recorded SHA-256 has it. Both throw Error
// naming the object.
void check_recorded_files(objstore::Bucket& bucket, const BucketBlock& block);
void check_recorded_hashes(objstore::Bucket& bucket, const BucketBlock& block,
                           const std::string& local_dir);

// Downloads the objects named relative to `prefix` into the new directory
// `dest` (through a temporary one beside it), checking each one's size
// against the listing. For blocks that cannot be read as blocks (verify).
void download_objects(objstore::Bucket& bucket, const std::string& prefix,
                      const std::vector<objstore::ObjectInfo>& objects, const std::string& dest);

// Downloads `objects` (some or all of `block`'s) into the new directory
// `dest` with every check download_block() makes: sizes against the listing
// and meta.json, SHA256 where meta.json records one. Nothing stays on failure.
void download_checked(objstore::Bucket& bucket, const BucketBlock& block,
                      const std::vector<objstore::ObjectInfo>& objects, const std::string& dest);

// Uploads the block directory `block_dir` as <root><ULID>/..., meta.json
// last, and returns the objects written (names relative to the block, with
// sizes). On failure the objects already uploaded stay: without meta.json
// they are a partial block that readers ignore and a later run removes.
std::vector<objstore::ObjectInfo> upload_block(objstore::Bucket& bucket,
                                               const std::string& block_dir,
                                               const std::string& root);

}  // namespace promblock::remote
