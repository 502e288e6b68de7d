#include "tsdb/objstore/bucket.h"

namespace promblock::objstore {

std::string Bucket::describe_object(std::string_view name) const {
  std::string where = describe();
  if (!where.empty() && where.back() != '/') where += '/';
  where += name;
  return where;
}

}  // namespace promblock::objstore
