// The curl_* functions promblock calls, each forwarding to libcurl's own,
// which is loaded on the first call (see curl_lazy.h). The declarations
// are curl.h's; without its type-checking macros, which would rename ours.
#define CURL_DISABLE_TYPECHECK
#include "tsdb/objstore/curl_lazy.h"

#include <curl/curl.h>

#include <cstdarg>

#include "tsdb/base/lazy_library.h"

namespace promblock::objstore {

namespace {

struct Curl {
  CURLcode (*global_init)(long) = nullptr;
  CURL* (*easy_init)() = nullptr;
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...) = nullptr;
  CURLcode (*easy_perform)(CURL*) = nullptr;
  void (*easy_cleanup)(CURL*) = nullptr;
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...) = nullptr;
  void (*easy_reset)(CURL*) = nullptr;
  const char* (*easy_strerror)(CURLcode) = nullptr;
  curl_slist* (*slist_append)(curl_slist*, const char*) = nullptr;
  void (*slist_free_all)(curl_slist*) = nullptr;
  std::string error;  // empty when every function above is set
  bool ok() const { return error.empty(); }
};

Curl load() {
  Curl c;
  LazyLibrary lib("libcurl.so.4", "libcurl4");
  lib.bind("curl_global_init", c.global_init);
  lib.bind("curl_easy_init", c.easy_init);
  lib.bind("curl_easy_setopt", c.easy_setopt);
  lib.bind("curl_easy_perform", c.easy_perform);
  lib.bind("curl_easy_cleanup", c.easy_cleanup);
  lib.bind("curl_easy_getinfo", c.easy_getinfo);
  lib.bind("curl_easy_reset", c.easy_reset);
  lib.bind("curl_easy_strerror", c.easy_strerror);
  lib.bind("curl_slist_append", c.slist_append);
  lib.bind("curl_slist_free_all", c.slist_free_all);
  c.error = lib.error();
  return c;
}

const Curl& curl() {
  static const Curl c = load();  // once, thread-safe
  return c;
}

}  // namespace

std::string curl_load_error() { return curl().error; }

}  // namespace promblock::objstore

using promblock::objstore::curl;

// curl.h fixes these signatures, an enum before the `...`; libcurl's own
// definitions have them too. Clang warns that the enum is promoted; an
// int-sized enum passes as an int on every ABI promblock builds for.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wvarargs"
#endif

CURLcode curl_global_init(long flags) {
  return curl().ok() ? curl().global_init(flags) : CURLE_FAILED_INIT;
}

CURL* curl_easy_init() { return curl().ok() ? curl().easy_init() : nullptr; }

// The variadic argument's type follows from the option's number, as curl.h
// defines them: longs, then pointers (objects and functions), then
// curl_off_t, then blobs (pointers).
CURLcode curl_easy_setopt(CURL* handle, CURLoption option, ...) {
  if (!curl().ok()) return CURLE_FAILED_INIT;
  va_list ap;
  va_start(ap, option);
  CURLcode rc;
  if (option < CURLOPTTYPE_OBJECTPOINT) {
    rc = curl().easy_setopt(handle, option, va_arg(ap, long));
  } else if (option < CURLOPTTYPE_OFF_T || option >= CURLOPTTYPE_BLOB) {
    // Function pointers travel as data pointers too, as dlsym's do (POSIX).
    rc = curl().easy_setopt(handle, option, va_arg(ap, void*));
  } else {
    rc = curl().easy_setopt(handle, option, va_arg(ap, curl_off_t));
  }
  va_end(ap);
  return rc;
}

CURLcode curl_easy_perform(CURL* handle) {
  return curl().ok() ? curl().easy_perform(handle) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL* handle) {
  if (curl().ok()) curl().easy_cleanup(handle);
}

// Every CURLINFO takes a pointer to where the answer goes.
CURLcode curl_easy_getinfo(CURL* handle, CURLINFO info, ...) {
  if (!curl().ok()) return CURLE_FAILED_INIT;
  va_list ap;
  va_start(ap, info);
  CURLcode rc = curl().easy_getinfo(handle, info, va_arg(ap, void*));
  va_end(ap);
  return rc;
}

void curl_easy_reset(CURL* handle) {
  if (curl().ok()) curl().easy_reset(handle);
}

const char* curl_easy_strerror(CURLcode code) {
  return curl().ok() ? curl().easy_strerror(code) : "libcurl could not be loaded";
}

curl_slist* curl_slist_append(curl_slist* list, const char* data) {
  return curl().ok() ? curl().slist_append(list, data) : nullptr;
}

void curl_slist_free_all(curl_slist* list) {
  if (curl().ok()) curl().slist_free_all(list);
}
