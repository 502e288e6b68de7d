#include "tsdb/objstore/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include "tsdb/base/error.h"
#include "tsdb/base/fsutil.h"
#include "tsdb/objstore/filesystem_bucket.h"
#include "tsdb/objstore/prefixed_bucket.h"

namespace promblock::objstore {

namespace {

// Reads typed values out of one YAML map, naming "section.key" in errors.
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string origin, std::string section)
      : node_(node ? node : YAML::Node()),
        origin_(std::move(origin)),
        section_(std::move(section)) {
    // yaml-cpp throws on any use of the node of an absent key but the test for it.
    if (!node_.IsNull() && !node_.IsMap()) fail(origin_, section_, "want a mapping");
  }

  // Fails on a key outside `known`, as Thanos's strict YAML decoding does.
  void check_keys(const std::set<std::string>& known) const {
    if (!node_.IsMap()) return;
    for (const auto& kv : node_) {
      std::string key = kv.first.Scalar();
      if (!known.count(key)) fail(origin_, section_, "unknown key \"" + key + "\"");
    }
  }
  bool has(const char* key) const { return node_.IsMap() && node_[key] && !node_[key].IsNull(); }
  YAML::Node node(const char* key) const { return has(key) ? node_[key] : YAML::Node(); }

  std::string str(const char* key, std::string dflt = "") const {
    if (!has(key)) return dflt;
    if (!node_[key].IsScalar()) bad(key, "want a string");
    return node_[key].Scalar();
  }
  template <typename T>
  T get(const char* key, T dflt, const char* want) const {
    if (!has(key)) return dflt;
    try {
      return node_[key].as<T>();
    } catch (const YAML::Exception&) {
      bad(key, want);
    }
  }
  std::chrono::milliseconds duration(const char* key, std::chrono::milliseconds dflt) const {
    if (!has(key)) return dflt;
    auto d = parse_duration(str(key));
    if (!d) bad(key, "want a duration such as \"90s\" or \"2m\", got \"" + str(key) + "\"");
    return *d;
  }
  [[noreturn]] void bad(const std::string& key, const std::string& what) const {
    fail(origin_, section_.empty() ? key : section_ + "." + key, what);
  }

 private:
  YAML::Node node_;
  std::string origin_, section_;
};

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string strip_slashes(std::string s) {
  while (!s.empty() && s.front() == '/') s.erase(0, 1);
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string env_or(const EnvLookup& env, const char* var, std::string dflt = "") {
  auto v = env(var);
  return v && !v->empty() ? *v : dflt;
}

void parse_http_config(const MapReader& cfg, S3Options& s3, const std::string& origin) {
  MapReader http(cfg.node("http_config"), origin, "config.http_config");
  // Connection-pool and handshake tuning of Go's HTTP client: accepted, no
  // equivalent here. tls_config is read below.
  http.check_keys({"idle_conn_timeout", "response_header_timeout", "insecure_skip_verify",
                   "tls_handshake_timeout", "expect_continue_timeout", "max_idle_conns",
                   "max_idle_conns_per_host", "max_conns_per_host", "tls_config",
                   "disable_compression"});
  s3.limits.idle_timeout = http.duration("idle_conn_timeout", std::chrono::seconds(90));
  s3.limits.stall_timeout = http.duration("response_header_timeout", std::chrono::minutes(2));
  s3.limits.skip_tls_verify = http.get<bool>("insecure_skip_verify", false, "want true or false");
  MapReader tls(http.node("tls_config"), origin, "config.http_config.tls_config");
  tls.check_keys({"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"});
  if (tls.has("server_name")) tls.bad("server_name", "not supported: connect by that name instead");
  s3.limits.ca_file = tls.str("ca_file");
  s3.limits.cert_file = tls.str("cert_file");
  s3.limits.key_file = tls.str("key_file");
  if (s3.limits.cert_file.empty() != s3.limits.key_file.empty())
    tls.bad(s3.limits.cert_file.empty() ? "cert_file" : "key_file",
            "missing: cert_file and key_file go together");
  if (tls.get<bool>("insecure_skip_verify", false, "want true or false"))
    s3.limits.skip_tls_verify = true;
}

void parse_credentials(const MapReader& cfg, S3Options& s3, const EnvLookup& env,
                       const std::string& origin) {
  auto& c = s3.credentials;
  c.access_key = cfg.str("access_key");
  c.secret_key = cfg.str("secret_key");
  c.session_token = cfg.str("session_token");
  if (c.access_key.empty()) {
    c.access_key = env_or(env, "AWS_ACCESS_KEY_ID");
    c.secret_key = env_or(env, "AWS_SECRET_ACCESS_KEY");
    if (c.session_token.empty()) c.session_token = env_or(env, "AWS_SESSION_TOKEN");
  }
  if (c.access_key.empty())
    fail(origin, "config", "no access_key, and AWS_ACCESS_KEY_ID is not set");
  if (c.secret_key.empty())
    fail(origin, "config", "access_key without secret_key (or AWS_SECRET_ACCESS_KEY)");
  c.region = cfg.str("region");
  if (c.region.empty()) c.region = env_or(env, "AWS_REGION", env_or(env, "AWS_DEFAULT_REGION"));
  if (c.region.empty()) c.region = "us-east-1";
}

S3Options parse_s3(const MapReader& cfg, const EnvLookup& env, const std::string& origin) {
  cfg.check_keys({"bucket",
                  "endpoint",
                  "region",
                  "access_key",
                  "secret_key",
                  "session_token",
                  "insecure",
                  "bucket_lookup_type",
                  "part_size",
                  "http_config",
                  "aws_sdk_auth",
                  "signature_version2",
                  "put_user_metadata",
                  "trace",
                  "list_objects_version",
                  "send_content_md5",
                  "disable_multipart",
                  "sse_config",
                  "sts_endpoint",
                  "max_retries"});
  S3Options s3;
  s3.bucket = cfg.str("bucket");
  s3.endpoint = cfg.str("endpoint");
  if (s3.bucket.empty()) fail(origin, "config", "no bucket");
  if (s3.endpoint.empty()) fail(origin, "config", "no endpoint");
  if (s3.endpoint.find("://") != std::string::npos || s3.endpoint.find('/') != std::string::npos)
    cfg.bad("endpoint", "want host[:port] without a scheme or path (see insecure)");
  s3.insecure = cfg.get<bool>("insecure", false, "want true or false");
  if (cfg.get<bool>("signature_version2", false, "want true or false"))
    cfg.bad("signature_version2", "only AWS Signature V4 is supported");
  s3.disable_multipart = cfg.get<bool>("disable_multipart", false, "want true or false");
  s3.part_size = cfg.get<uint64_t>("part_size", s3.part_size, "want a number of bytes");
  if (s3.part_size == 0) s3.part_size = uint64_t(64) << 20;  // Thanos: 0 means the default
  std::string lookup = cfg.str("bucket_lookup_type", "auto");
  if (lookup == "virtual-hosted")
    s3.virtual_hosted = true;
  else if (lookup == "auto")
    s3.virtual_hosted = s3.endpoint.find("amazonaws.com") != std::string::npos;
  else if (lookup != "path")
    cfg.bad("bucket_lookup_type", "want auto, virtual-hosted or path, got \"" + lookup + "\"");
  parse_credentials(cfg, s3, env, origin);
  parse_http_config(cfg, s3, origin);
  return s3;
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
}

BucketConfig parse_bucket_config(std::string_view yaml, const EnvLookup& env,
                                 const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    fail(origin, "YAML", e.what());
  }
  if (!root.IsMap()) fail(origin, "want a mapping with type: and config:");
  MapReader top(root, origin, "");
  top.check_keys({"type", "config", "prefix"});
  BucketConfig out;
  out.origin = origin;
  out.prefix = strip_slashes(top.str("prefix"));
  std::string type = upper(top.str("type"));
  MapReader cfg(top.node("config"), origin, "config");
  if (type == "S3") {
    out.type = BucketType::kS3;
    out.s3 = parse_s3(cfg, env, origin);
  } else if (type == "FILESYSTEM") {
    out.type = BucketType::kFilesystem;
    cfg.check_keys({"directory"});
    out.directory = cfg.str("directory");
    if (out.directory.empty()) fail(origin, "config", "no directory");
  } else {
    top.bad("type", "want S3 or FILESYSTEM, got \"" + top.str("type") + "\"");
  }
  return out;
}

BucketConfig load_bucket_config(const std::string& path, const EnvLookup& env) {
  return parse_bucket_config(fsutil::read_small_file(path), env, path);
}

std::unique_ptr<Bucket> open_bucket(const BucketConfig& config) {
  std::unique_ptr<Bucket> bucket;
  if (config.type == BucketType::kS3)
    bucket = std::make_unique<S3Bucket>(config.s3);
  else
    bucket = std::make_unique<FilesystemBucket>(config.directory);
  if (config.prefix.empty()) return bucket;
  return std::make_unique<PrefixedBucket>(std::move(bucket), config.prefix);
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  static const std::pair<std::string_view, int64_t> kUnits[] = {
      {"ms", 1},       {"s", 1000},           {"m", 60000},           {"h", 3600000},
      {"d", 86400000}, {"w", 7 * 86400000LL}, {"y", 365 * 86400000LL}};
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  while (!text.empty()) {
    size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == 0 || digits > 12) return std::nullopt;
    int64_t n = std::stoll(std::string(text.substr(0, digits)));
    text.remove_prefix(digits);
    // kUnits has "ms" before "m", so "500ms" is not 500 minutes.
    auto unit = std::find_if(std::begin(kUnits), std::end(kUnits), [&](const auto& u) {
      return text.substr(0, u.first.size()) == u.first;
    });
    if (unit == std::end(kUnits)) return std::nullopt;
    total += n * unit->second;
    text.remove_prefix(unit->first.size());
  }
  return std::chrono::milliseconds(total);
}

}  // namespace promblock::objstore
