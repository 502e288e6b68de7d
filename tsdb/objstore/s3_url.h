#pragma once
// URLs of S3 requests. AWS Signature V4 signs the path and query exactly as
// sent, and curl 7.88 signs them as given (it neither re-encodes nor sorts
// the query), so they must already be in AWS's canonical form: every byte
// but A-Z a-z 0-9 - . _ ~ percent-encoded (upper-case hex), and query
// parameters sorted by name.
#include <map>
#include <string>
#include <string_view>

namespace promblock::objstore {

// AWS URI encoding; '/' stays when `keep_slash` (object keys in paths).
std::string aws_uri_encode(std::string_view s, bool keep_slash);

// "a=1&b=%2F" from sorted parameters; a parameter with an empty value is
// written "name=" (its canonical form).
std::string canonical_query(const std::map<std::string, std::string>& params);

}  // namespace promblock::objstore
