// The parts of the S3 bucket that need no server: XML bodies, URL encoding,
// retry rules and backoff.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include "tsdb/base/error.h"
#include "tsdb/objstore/s3_bucket.h"
#include "tsdb/objstore/s3_retry.h"
#include "tsdb/objstore/s3_url.h"
#include "tsdb/objstore/s3_xml.h"

namespace promblock::objstore {
namespace {

TEST(S3Xml, ParsesListPage) {
  auto page = parse_list_page(
      R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<Contents><Key>01H/meta.json</Key><Size>123</Size><ETag>"x"</ETag></Contents>
<Contents><Key>a &amp; b</Key><Size>0</Size></Contents>
<CommonPrefixes><Prefix>01H/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>02J/</Prefix></CommonPrefixes>
<IsTruncated>true</IsTruncated><NextContinuationToken>tok+/=</NextContinuationToken></ListBucketResult>)",
      "s3://b");
  ASSERT_EQ(page.objects.size(), 2u);
  EXPECT_EQ(page.objects[0].name, "01H/meta.json");
  EXPECT_EQ(page.objects[0].size, 123u);
  EXPECT_EQ(page.objects[1].name, "a & b");
  EXPECT_EQ(page.prefixes, (std::vector<std::string>{"01H/", "02J/"}));
  EXPECT_TRUE(page.truncated);
  EXPECT_EQ(page.next_token, "tok+/=");
}

TEST(S3Xml, LastPageAndEmptyListing) {
  auto page = parse_list_page(
      "<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>",
      "s3://b");
  EXPECT_TRUE(page.objects.empty());
  EXPECT_FALSE(page.truncated);
}

TEST(S3Xml, RefusesWhatIsNotAListing) {
  EXPECT_THROW(parse_list_page("<html>proxy error</html>", "s3://b"), Error);
  EXPECT_THROW(parse_list_page("not xml <", "s3://b"), Error);
  EXPECT_THROW(parse_list_page("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size>"
                               "</Contents></ListBucketResult>",
                               "s3://b"),
               Error);
  // Truncated without a token would loop forever.
  EXPECT_THROW(
      parse_list_page("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "x"),
      Error);
  try {
    parse_list_page("<x/>", "s3://b/p");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), "s3://b/p");
  }
}

TEST(S3Xml, ParsesErrorBody) {
  auto err = parse_error_body(
      "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request "
      "signature we calculated does not match</Message><RequestId>1</RequestId></Error>");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, "SignatureDoesNotMatch");
  EXPECT_EQ(err->message, "The request signature we calculated does not match");
  EXPECT_FALSE(parse_error_body(""));
  EXPECT_FALSE(parse_error_body("<html><body>502 Bad Gateway</body></html>"));
  EXPECT_FALSE(parse_error_body("<CompleteMultipartUploadResult/>"));
}

TEST(S3Xml, MultipartBodies) {
  EXPECT_EQ(parse_upload_id("<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                            "<UploadId>abc-123</UploadId></InitiateMultipartUploadResult>",
                            "s3://b/k"),
            "abc-123");
  EXPECT_THROW(parse_upload_id("<InitiateMultipartUploadResult/>", "s3://b/k"), Error);
  EXPECT_EQ(complete_multipart_xml({"\"e1\"", "\"e2\""}),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag>"
            "</Part><Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part>"
            "</CompleteMultipartUpload>");
}

TEST(S3Url, EncodesAsAwsSigns) {
  EXPECT_EQ(aws_uri_encode("01H/chunks/000001", true), "01H/chunks/000001");
  EXPECT_EQ(aws_uri_encode("a b+c/ü~_.-", true), "a%20b%2Bc/%C3%BC~_.-");
  EXPECT_EQ(aws_uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(aws_uri_encode("*=&?%", false), "%2A%3D%26%3F%25");
}

TEST(S3Url, QueryIsSortedAndEncoded) {
  EXPECT_EQ(canonical_query({{"prefix", "a b/"},
                             {"list-type", "2"},
                             {"delimiter", "/"},
                             {"continuation-token", "x+y="}}),
            "continuation-token=x%2By%3D&delimiter=%2F&list-type=2&prefix=a%20b%2F");
  EXPECT_EQ(canonical_query({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(canonical_query({{"uploadId", "u"}, {"partNumber", "10"}}), "partNumber=10&uploadId=u");
}

TEST(S3Retry, HttpStatusesAndCodes) {
  EXPECT_TRUE(is_retryable_http(500, ""));
  EXPECT_TRUE(is_retryable_http(503, "SlowDown"));
  EXPECT_TRUE(is_retryable_http(502, ""));
  EXPECT_TRUE(is_retryable_http(429, ""));
  EXPECT_TRUE(is_retryable_http(400, "RequestTimeout"));
  EXPECT_TRUE(is_retryable_http(200, "InternalError"));  // CompleteMultipartUpload's 200 + error
  EXPECT_FALSE(is_retryable_http(403, "SignatureDoesNotMatch"));
  EXPECT_FALSE(is_retryable_http(403, "AccessDenied"));
  EXPECT_FALSE(is_retryable_http(404, "NoSuchKey"));
  EXPECT_FALSE(is_retryable_http(400, "InvalidArgument"));
  EXPECT_FALSE(is_retryable_http(412, "PreconditionFailed"));
}

TEST(S3Retry, TransportErrors) {
  EXPECT_TRUE(is_retryable_transport(CURLE_COULDNT_CONNECT));
  EXPECT_TRUE(is_retryable_transport(CURLE_OPERATION_TIMEDOUT));
  EXPECT_TRUE(is_retryable_transport(CURLE_RECV_ERROR));
  EXPECT_TRUE(is_retryable_transport(CURLE_SEND_ERROR));
  EXPECT_TRUE(is_retryable_transport(CURLE_PARTIAL_FILE));
  EXPECT_TRUE(is_retryable_transport(CURLE_GOT_NOTHING));
  EXPECT_FALSE(is_retryable_transport(CURLE_OK));
  EXPECT_FALSE(is_retryable_transport(CURLE_URL_MALFORMAT));
  EXPECT_FALSE(is_retryable_transport(CURLE_WRITE_ERROR));
  EXPECT_FALSE(is_retryable_transport(CURLE_PEER_FAILED_VERIFICATION));
}

TEST(S3Retry, BackoffDoublesWithJitterAndCap) {
  RetryPolicy p;  // 200 ms, doubling, capped at 5 s
  using ms = std::chrono::milliseconds;
  EXPECT_EQ(backoff_delay(p, 1, 1.0), ms(200));
  EXPECT_EQ(backoff_delay(p, 1, 0.0), ms(100));
  EXPECT_EQ(backoff_delay(p, 2, 1.0), ms(400));
  EXPECT_EQ(backoff_delay(p, 4, 1.0), ms(1600));
  EXPECT_EQ(backoff_delay(p, 10, 1.0), ms(5000));
  EXPECT_EQ(backoff_delay(p, 60, 0.0), ms(2500));
  EXPECT_EQ(backoff_delay(p, 3, 0.5), ms(600));
}

TEST(S3Bucket, RefusesBadOptionsNamingTheBucket) {
  S3Options o;
  o.bucket = "blocks";
  o.endpoint = "127.0.0.1:9";
  EXPECT_EQ(S3Bucket(o).describe(), "s3://blocks");
  EXPECT_EQ(S3Bucket(o).describe_object("01H/meta.json"), "s3://blocks/01H/meta.json");
  o.part_size = (uint64_t(5) << 20) - 1;  // below S3's minimum
  try {
    S3Bucket b(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), "s3://blocks");
  }
  o.min_part_size = 1024;  // tests may go lower, explicitly
  EXPECT_NO_THROW(S3Bucket{o});
  o.endpoint = "";
  EXPECT_THROW(S3Bucket{o}, Error);
  o.endpoint = "h";
  o.bucket = "";
  EXPECT_THROW(S3Bucket{o}, Error);
}

TEST(S3Bucket, TransportFailureIsOneLineNamingTheObject) {
  S3Options o;
  o.bucket = "b";
  o.endpoint = "127.0.0.1:1";  // nothing listens on port 1
  o.insecure = true;
  o.retry.tries = 2;
  o.retry.initial = std::chrono::milliseconds(1);
  S3Bucket b(o);
  try {
    b.put("x/y", "z");
    FAIL();
  } catch (const Error& e) {
    // (An http_proxy in the environment would answer instead: hence no exact match.)
    std::string what = e.what();
    EXPECT_EQ(what.rfind("s3://b/x/y: PUT: ", 0), 0u) << what;
    EXPECT_NE(what.find("(after 2 tries)"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace promblock::objstore
