#include "tsdb/remote/file_hash.h"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "tsdb/base/error.h"
#include "tsdb/base/lazy_library.h"

namespace promblock::remote {

namespace {

// OpenSSL's digest functions, from libcrypto loaded on first use: linked,
// it cost 4-5 ms of every start (a merge of small's 18 M samples takes 200
// ms) for the one command that checks downloaded files' hashes. The
// pointers have the types of evp.h's declarations.
struct Crypto {
  decltype(&EVP_MD_CTX_new) ctx_new = nullptr;
  decltype(&EVP_MD_CTX_free) ctx_free = nullptr;
  decltype(&EVP_sha256) sha256 = nullptr;
  decltype(&EVP_DigestInit_ex) init = nullptr;
  decltype(&EVP_DigestUpdate) update = nullptr;
  decltype(&EVP_DigestFinal_ex) final = nullptr;
  std::string error;  // empty when every function above is set
};

Crypto load() {
  Crypto c;
  LazyLibrary lib("libcrypto.so.3", "libssl3");
  lib.bind("EVP_MD_CTX_new", c.ctx_new);
  lib.bind("EVP_MD_CTX_free", c.ctx_free);
  lib.bind("EVP_sha256", c.sha256);
  lib.bind("EVP_DigestInit_ex", c.init);
  lib.bind("EVP_DigestUpdate", c.update);
  lib.bind("EVP_DigestFinal_ex", c.final);
  c.error = lib.error();
  return c;
}

const Crypto& crypto() {
  static const Crypto c = load();  // once, thread-safe
  return c;
}

}  // namespace

std::string sha256_file_hex(const std::string& path) {
  const Crypto& c = crypto();
  if (!c.error.empty()) fail(path, "SHA256: " + c.error);
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) fail_errno(path, "reading for its SHA256");
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(c.ctx_new(), c.ctx_free);
  if (!ctx || c.init(ctx.get(), c.sha256(), nullptr) != 1)
    fail(path, "SHA256: cannot set up OpenSSL's digest");
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0)
    c.update(ctx.get(), buf.data(), n);
  if (std::ferror(f.get())) fail(path, "reading for its SHA256: read error");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  c.final(ctx.get(), digest, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace promblock::remote
