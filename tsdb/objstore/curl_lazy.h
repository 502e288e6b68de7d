#pragma once
// libcurl is loaded on first use (dlopen of libcurl.so.4), not when the
// program starts: linking it pulls in some 30 libraries (TLS, LDAP, SSH,
// Kerberos, ...) whose loading cost about 15 ms of every run, a
// twentieth of a whole merge, for commands that never touch a bucket.
// curl_lazy.cpp defines the few curl_* functions promblock calls; each
// forwards to the library's own.
#include <string>

namespace promblock::objstore {

// Why libcurl could not be loaded; empty when it was (or is not needed yet).
std::string curl_load_error();

}  // namespace promblock::objstore
