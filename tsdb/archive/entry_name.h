#pragma once
// Which tar entries a block backup may hold: regular files named
// <ULID>/<known file> and the directories <ULID>/ and <ULID>/chunks/.
// restore writes nothing else, so that no archive, however crafted, can make
// it write outside the target directory.
#include <string>
#include <string_view>

#include "tsdb/archive/tar.h"

namespace promblock::archive {

struct EntryCheck {
  bool ok = false;
  // The block the entry belongs to: its first path component when that is
  // a ULID, also for refused entries ("<ULID>/../x"); empty otherwise, and
  // for the archive root "./" (accepted and ignored).
  std::string ulid;
  // The path inside the block when accepted: "" (the block directory),
  // "chunks" (its directory), "meta.json", "index", "chunks/000001", ...
  std::string file;
  bool is_dir = false;
  std::string reason;  // why it was refused, as a phrase
};

// Checks an entry's type and name. Accepted: types '0' (and pre-POSIX
// '\0') as files and '5' as directories; names relative, "/"-separated,
// optionally starting with "./", without empty, "." or ".." components or
// NUL bytes. Everything else is refused with a reason.
EntryCheck check_block_entry(const TarHeader& h);

// True for the files a block has inside its directory: meta.json, index,
// tombstones, deletion-mark.json, no-compact-mark.json, chunks/NNNNNN
// (six digits, from 000001).
bool is_block_file(std::string_view rel);

}  // namespace promblock::archive
