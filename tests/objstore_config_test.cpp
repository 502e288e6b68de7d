// Thanos objstore configuration files: every S3 key, environment fallbacks,
// strictness, and the errors naming the file.
#include <gtest/gtest.h>

#include <map>

#include "tests/test_util.h"
#include "tsdb/base/error.h"
#include "tsdb/objstore/config.h"

namespace promblock::objstore {
namespace {

using std::chrono::milliseconds;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

const EnvLookup kNoEnv = env_of({});

// The message of the Error that parsing `yaml` throws ("" when none).
std::string error_of(const std::string& yaml, const EnvLookup& env = kNoEnv) {
  try {
    parse_bucket_config(yaml, env, "objstore.yml");
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), "objstore.yml");
    return e.what();
  }
  return "";
}

const char* kMinimalS3 =
    "type: s3\nconfig:\n  bucket: b\n  endpoint: minio:9000\n  access_key: A\n  secret_key: S\n";

TEST(BucketConfig, EveryS3Key) {
  auto cfg = parse_bucket_config(R"(
type: S3
prefix: /tenant/a/
config:
  bucket: blocks
  endpoint: s3.example.com:9000
  region: eu-west-3
  access_key: AK
  secret_key: SK
  session_token: TOK
  insecure: true
  bucket_lookup_type: virtual-hosted
  part_size: 10485760
  disable_multipart: true
  signature_version2: false
  aws_sdk_auth: false
  put_user_metadata: {a: b}
  trace: {enable: true}
  list_objects_version: v2
  send_content_md5: true
  sse_config: {type: SSE-S3}
  sts_endpoint: ""
  max_retries: 3
  http_config:
    idle_conn_timeout: 1m31s
    response_header_timeout: 45s
    insecure_skip_verify: true
    tls_handshake_timeout: 10s
    max_idle_conns: 100
)",
                                 kNoEnv);
  EXPECT_EQ(cfg.type, BucketType::kS3);
  EXPECT_EQ(cfg.prefix, "tenant/a");
  const S3Options& s3 = cfg.s3;
  EXPECT_EQ(s3.bucket, "blocks");
  EXPECT_EQ(s3.endpoint, "s3.example.com:9000");
  EXPECT_EQ(s3.credentials.region, "eu-west-3");
  EXPECT_EQ(s3.credentials.access_key, "AK");
  EXPECT_EQ(s3.credentials.secret_key, "SK");
  EXPECT_EQ(s3.credentials.session_token, "TOK");
  EXPECT_TRUE(s3.insecure);
  EXPECT_TRUE(s3.virtual_hosted);
  EXPECT_EQ(s3.part_size, 10485760u);
  EXPECT_TRUE(s3.disable_multipart);
  EXPECT_EQ(s3.limits.stall_timeout, milliseconds(45000));
  EXPECT_EQ(s3.limits.idle_timeout, milliseconds(91000));
  EXPECT_TRUE(s3.limits.skip_tls_verify);
}

TEST(BucketConfig, S3Defaults) {
  auto cfg = parse_bucket_config(kMinimalS3, kNoEnv);
  EXPECT_EQ(cfg.prefix, "");
  EXPECT_FALSE(cfg.s3.insecure);
  EXPECT_FALSE(cfg.s3.virtual_hosted);  // auto, not AWS: path-style
  EXPECT_EQ(cfg.s3.part_size, uint64_t(64) << 20);
  EXPECT_FALSE(cfg.s3.disable_multipart);
  EXPECT_EQ(cfg.s3.credentials.region, "us-east-1");
  EXPECT_EQ(cfg.s3.credentials.session_token, "");
  EXPECT_EQ(cfg.s3.limits.stall_timeout, milliseconds(120000));
  EXPECT_EQ(cfg.s3.limits.idle_timeout, milliseconds(90000));
  EXPECT_FALSE(cfg.s3.limits.skip_tls_verify);
}

TEST(BucketConfig, LookupTypeAutoIsVirtualHostedOnAws) {
  auto cfg = parse_bucket_config(
      "type: S3\nconfig: {bucket: b, endpoint: s3.eu-west-1.amazonaws.com, access_key: a, "
      "secret_key: s}\n",
      kNoEnv);
  EXPECT_TRUE(cfg.s3.virtual_hosted);
  cfg = parse_bucket_config(
      "type: S3\nconfig: {bucket: b, endpoint: s3.eu-west-1.amazonaws.com, access_key: a, "
      "secret_key: s, bucket_lookup_type: path}\n",
      kNoEnv);
  EXPECT_FALSE(cfg.s3.virtual_hosted);
}

TEST(BucketConfig, CredentialsAndRegionFromEnvironment) {
  auto env = env_of({{"AWS_ACCESS_KEY_ID", "EA"},
                     {"AWS_SECRET_ACCESS_KEY", "ES"},
                     {"AWS_SESSION_TOKEN", "ET"},
                     {"AWS_DEFAULT_REGION", "ap-south-1"}});
  auto cfg = parse_bucket_config("type: S3\nconfig: {bucket: b, endpoint: h}\n", env);
  EXPECT_EQ(cfg.s3.credentials.access_key, "EA");
  EXPECT_EQ(cfg.s3.credentials.secret_key, "ES");
  EXPECT_EQ(cfg.s3.credentials.session_token, "ET");
  EXPECT_EQ(cfg.s3.credentials.region, "ap-south-1");
  // AWS_REGION before AWS_DEFAULT_REGION; the config before both.
  env = env_of({{"AWS_ACCESS_KEY_ID", "EA"},
                {"AWS_SECRET_ACCESS_KEY", "ES"},
                {"AWS_REGION", "us-west-2"},
                {"AWS_DEFAULT_REGION", "ap-south-1"}});
  cfg = parse_bucket_config("type: S3\nconfig: {bucket: b, endpoint: h}\n", env);
  EXPECT_EQ(cfg.s3.credentials.region, "us-west-2");
  cfg = parse_bucket_config("type: S3\nconfig: {bucket: b, endpoint: h, region: r1}\n", env);
  EXPECT_EQ(cfg.s3.credentials.region, "r1");
  // Keys in the config win over the environment's, token included.
  cfg = parse_bucket_config(kMinimalS3,
                            env_of({{"AWS_ACCESS_KEY_ID", "EA"}, {"AWS_SESSION_TOKEN", "ET"}}));
  EXPECT_EQ(cfg.s3.credentials.access_key, "A");
  EXPECT_EQ(cfg.s3.credentials.session_token, "");
}

TEST(BucketConfig, S3Errors) {
  EXPECT_NE(
      error_of("type: S3\nconfig: {endpoint: h, access_key: a, secret_key: s}").find("no bucket"),
      std::string::npos);
  EXPECT_NE(
      error_of("type: S3\nconfig: {bucket: b, access_key: a, secret_key: s}").find("no endpoint"),
      std::string::npos);
  EXPECT_NE(error_of("type: S3\nconfig: {bucket: b, endpoint: h}").find("access_key"),
            std::string::npos);
  EXPECT_NE(
      error_of("type: S3\nconfig: {bucket: b, endpoint: h, access_key: a}").find("secret_key"),
      std::string::npos);
  EXPECT_EQ(error_of(std::string(kMinimalS3) + "  bucket_typo: x\n"),
            "objstore.yml: config: unknown key \"bucket_typo\"");
  EXPECT_EQ(error_of(std::string(kMinimalS3) + "  http_config: {idle_timeout: 1s}\n"),
            "objstore.yml: config.http_config: unknown key \"idle_timeout\"");
  EXPECT_NE(error_of(std::string(kMinimalS3) + "  signature_version2: true\n").find("V4"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimalS3) + "  insecure: maybe\n").find("config.insecure"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimalS3) + "  part_size: big\n").find("config.part_size"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimalS3) + "  bucket_lookup_type: dns\n").find("dns"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimalS3) + "  http_config: {response_header_timeout: 5}\n")
                .find("config.http_config.response_header_timeout"),
            std::string::npos);
  EXPECT_NE(error_of("type: S3\nconfig: {bucket: b, endpoint: 'http://h:9000', access_key: a, "
                     "secret_key: s}")
                .find("scheme"),
            std::string::npos);
}

TEST(BucketConfig, TlsConfig) {
  auto cfg = parse_bucket_config(std::string(kMinimalS3) +
                                     "  http_config:\n    tls_config:\n      ca_file: /ca.pem\n"
                                     "      cert_file: /c.pem\n      key_file: /k.pem\n",
                                 kNoEnv);
  EXPECT_EQ(cfg.s3.limits.ca_file, "/ca.pem");
  EXPECT_EQ(cfg.s3.limits.cert_file, "/c.pem");
  EXPECT_EQ(cfg.s3.limits.key_file, "/k.pem");
  EXPECT_FALSE(cfg.s3.limits.skip_tls_verify);
  cfg = parse_bucket_config(
      std::string(kMinimalS3) + "  http_config: {tls_config: {insecure_skip_verify: true}}\n",
      kNoEnv);
  EXPECT_TRUE(cfg.s3.limits.skip_tls_verify);
  EXPECT_EQ(cfg.s3.limits.ca_file, "");
  EXPECT_EQ(error_of(std::string(kMinimalS3) + "  http_config: {tls_config: {cert_file: /c}}\n"),
            "objstore.yml: config.http_config.tls_config.key_file: missing: cert_file and "
            "key_file go together");
  EXPECT_NE(error_of(std::string(kMinimalS3) + "  http_config: {tls_config: {server_name: x}}\n")
                .find("config.http_config.tls_config.server_name"),
            std::string::npos);
  EXPECT_EQ(error_of(std::string(kMinimalS3) + "  http_config: {tls_config: {ca: x}}\n"),
            "objstore.yml: config.http_config.tls_config: unknown key \"ca\"");
}

TEST(BucketConfig, TopLevelErrors) {
  EXPECT_NE(error_of("type: GCS\nconfig: {bucket: b}").find("GCS"), std::string::npos);
  EXPECT_NE(error_of("config: {directory: /x}").find("type"), std::string::npos);
  EXPECT_EQ(error_of("type: FILESYSTEM\nconfig: {directory: /x}\nextra: 1"),
            "objstore.yml: unknown key \"extra\"");
  EXPECT_NE(error_of("type: FILESYSTEM\nconfig: {dir: /x}").find("\"dir\""), std::string::npos);
  EXPECT_NE(error_of("type: FILESYSTEM\nconfig: {}").find("no directory"), std::string::npos);
  EXPECT_NE(error_of("type: [unclosed").find("YAML"), std::string::npos);
  EXPECT_NE(error_of("just text").find("mapping"), std::string::npos);
}

TEST(BucketConfig, Filesystem) {
  testing::TempDir dir;
  auto cfg = parse_bucket_config(
      "type: filesystem\nprefix: p\nconfig:\n  directory: " + dir.path() + "\n", kNoEnv);
  EXPECT_EQ(cfg.type, BucketType::kFilesystem);
  EXPECT_EQ(cfg.directory, dir.path());
  auto bucket = open_bucket(cfg);
  EXPECT_EQ(bucket->describe(), dir.path() + "/p");
  bucket->put("x/y", "hello");
  EXPECT_EQ(testing::read_bytes(dir.file("p/x/y")).size(), 5u);
}

TEST(BucketConfig, LoadsFileAndNamesIt) {
  testing::TempDir dir;
  std::string path = dir.file("objstore.yml");
  std::string text = "type: FILESYSTEM\nconfig: {directory: /d}\n";
  testing::write_bytes(path, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  EXPECT_EQ(load_bucket_config(path, kNoEnv).origin, path);
  text = "type: S3\n";
  testing::write_bytes(path, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  try {
    load_bucket_config(path, kNoEnv);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), path);
  }
}

TEST(BucketConfig, Durations) {
  EXPECT_EQ(parse_duration("90s"), milliseconds(90000));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120000));
  EXPECT_EQ(parse_duration("1h30m"), milliseconds(5400000));
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("1m5s"), milliseconds(65000));
  EXPECT_EQ(parse_duration("1d"), milliseconds(86400000));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("5"));
  EXPECT_FALSE(parse_duration("1.5s"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("10x"));
}

}  // namespace
}  // namespace promblock::objstore
