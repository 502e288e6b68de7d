// The Pushgateway grouping-key path (tools/pushgateway.h).
#include "tools/pushgateway.h"

#include <gtest/gtest.h>

namespace promblock::tools {
namespace {

TEST(Pushgateway, PathEscapesValuesAndUsesBase64ForSlashes) {
  PushRequest r;
  r.job = "promblock";
  r.grouping = {{"instance", "db 1.example"}, {"command", "compact"}, {"shard", "0-of-2"}};
  EXPECT_EQ(push_path(r),
            "/metrics/job/promblock/instance/db%201.example/command/compact/shard/0-of-2");
  r.job = "nightly/eu";  // "nightly/eu" in URL-safe base64
  r.grouping = {{"instance", ""}, {"shard", "a?b"}, {"x", "?\?>"}};
  EXPECT_EQ(push_path(r),
            "/metrics/job@base64/bmlnaHRseS9ldQ==/instance@base64/=/shard/a%3Fb/x/%3F%3F%3E");
  r.job = "a/";  // 2 bytes, then 1 byte
  r.grouping = {{"x", "/"}, {"y", "?\?/?"}};
  EXPECT_EQ(push_path(r), "/metrics/job@base64/YS8=/x@base64/Lw==/y@base64/Pz8vPw==");
}

}  // namespace
}  // namespace promblock::tools
