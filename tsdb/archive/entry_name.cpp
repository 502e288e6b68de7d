#include "tsdb/archive/entry_name.h"

#include <algorithm>
#include <vector>

#include "tsdb/base/ulid.h"

namespace promblock::archive {

namespace {

bool is_segment_name(std::string_view s) {
  return s.size() == 6 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
         s != "000000";
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\0')
      out += "\\0";
    else
      out += c;
  }
  return out;
}

}  // namespace

bool is_block_file(std::string_view rel) {
  if (rel == "meta.json" || rel == "index" || rel == "tombstones" || rel == "deletion-mark.json" ||
      rel == "no-compact-mark.json")
    return true;
  return rel.starts_with("chunks/") && is_segment_name(rel.substr(7));
}

namespace {

// The block an entry names, for refusing the whole block: the first
// component after any leading "/" and "./", where that is a ULID.
std::string named_block(std::string_view n) {
  while (!n.empty() && (n.front() == '/' || n.starts_with("./")))
    n.remove_prefix(n.front() == '/' ? 1 : 2);
  std::string_view first = n.substr(0, n.find('/'));
  return is_ulid(first) ? std::string(first) : std::string();
}

// Why an entry of this type is refused, or "" for a file or directory.
std::string type_refusal(const TarHeader& h) {
  switch (h.type) {
    case tar_type::kFile:
    case tar_type::kOldFile:
    case tar_type::kDirectory:
      return "";
    case tar_type::kHardLink:
      return "hard link (to \"" + printable(h.linkname) + "\")";
    case tar_type::kSymlink:
      return "symbolic link (to \"" + printable(h.linkname) + "\")";
    case tar_type::kCharDevice:
    case tar_type::kBlockDevice:
      return "device node";
    case tar_type::kFifo:
      return "FIFO";
    default:
      return std::string("unsupported entry type '") +
             (h.type >= 0x20 && h.type < 0x7f ? std::string(1, h.type)
                                              : "\\x" + std::to_string(uint8_t(h.type))) +
             "'";
  }
}

// Splits a relative path at "/" into `parts`; why it is refused, or "".
std::string split_path(std::string_view name, std::vector<std::string_view>& parts) {
  for (size_t start = 0;;) {
    size_t slash = name.find('/', start);
    std::string_view part =
        name.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (part.empty()) return "empty path component";
    if (part == "..") return "\"..\" in the path";
    if (part == ".") return "\".\" in the path";
    parts.push_back(part);
    if (slash == std::string_view::npos) return "";
    start = slash + 1;
  }
}

}  // namespace

EntryCheck check_block_entry(const TarHeader& h) {
  EntryCheck c;
  std::string_view name = h.name;
  c.ulid = named_block(name);
  auto refuse = [&](std::string why) {
    c.ok = false;
    c.reason = std::move(why);
    return c;
  };
  if (std::string why = type_refusal(h); !why.empty()) return refuse(std::move(why));
  c.is_dir = h.type == tar_type::kDirectory;
  if (name.find('\0') != std::string_view::npos) return refuse("NUL byte in the name");
  if (name.empty()) return refuse("empty name");
  if (name.front() == '/') return refuse("absolute path");
  while (name.starts_with("./")) name.remove_prefix(2);
  if (c.is_dir) {
    if (name.empty() || name == ".") {  // the archive's root: "./"
      c.ulid.clear();
      c.ok = true;
      return c;
    }
    if (name.ends_with('/')) name.remove_suffix(1);
  }
  std::vector<std::string_view> parts;
  if (std::string why = split_path(name, parts); !why.empty()) return refuse(std::move(why));
  if (!is_ulid(parts[0])) return refuse("not inside a block directory (<ULID>/)");
  std::string rel;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (i > 1) rel += '/';
    rel += parts[i];
  }
  if (c.is_dir ? !(rel.empty() || rel == "chunks") : !is_block_file(rel))
    return refuse(c.is_dir ? "not a block directory" : "not a block file");
  c.ok = true;
  c.ulid = std::string(parts[0]);
  c.file = rel;
  return c;
}

}  // namespace promblock::archive
