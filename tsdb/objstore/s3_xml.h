#pragma once
// The XML bodies of the S3 API calls the S3 bucket makes: listings, errors,
// multipart uploads. Apart from the transport so they are testable alone.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tsdb/objstore/bucket.h"

namespace promblock::objstore {

// One page of a ListObjectsV2 answer.
struct ListPage {
  std::vector<ObjectInfo> objects;    // <Contents>: Key and Size
  std::vector<std::string> prefixes;  // <CommonPrefixes><Prefix>
  bool truncated = false;             // <IsTruncated>
  std::string next_token;             // <NextContinuationToken>
};

// An S3 <Error> body: its Code and Message.
struct S3ErrorBody {
  std::string code;
  std::string message;
};

// Throws promblock::Error (path `what`) on XML that is not a listing.
ListPage parse_list_page(std::string_view xml, const std::string& what);
// nullopt when `xml` is not an <Error> document (empty, HTML from a proxy...).
std::optional<S3ErrorBody> parse_error_body(std::string_view xml);
// "HTTP 404 NoSuchKey: The specified key does not exist.", on one line.
std::string http_text(long status, const std::optional<S3ErrorBody>& err);
// The UploadId of a CreateMultipartUpload answer; throws when there is none.
std::string parse_upload_id(std::string_view xml, const std::string& what);
// The CompleteMultipartUpload request body; etags[i] is part i + 1's.
std::string complete_multipart_xml(const std::vector<std::string>& etags);

}  // namespace promblock::objstore
