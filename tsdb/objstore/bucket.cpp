#include "tsdb/objstore/bucket.h"

namespace promblock::objstore {

std::string Bucket::describe_object(std::string_view name) const {
  std::string where = describe();
  if (!where.empty() && where.back() != '/') where += '/';
  where += name;
  return where;
}

bool is_safe_relative_name(std::string_view name) {
  return !name.empty() && name.front() != '/' && name.find("..") == std::string_view::npos;
}

}  // namespace promblock::objstore
