// The selector parser. What parses is printed back (Matcher::to_string)
// and must parse again to the same matchers; matching is exercised too.
#include <string>

#include "tsdb/model/selector.h"

using namespace promblock;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<Matcher> matchers;
  try {
    matchers = parse_selector(text);
  } catch (const SelectorError&) {
    return 0;
  }
  std::string printed = "{";
  for (const Matcher& m : matchers) {
    printed += m.to_string() + ",";
    (void)m.matches("");
    (void)m.matches(m.value());
  }
  printed += "}";
  Labels labels;
  for (const Matcher& m : matchers) labels.push_back({m.name(), m.value()});
  (void)matches_all(matchers, labels);

  std::vector<Matcher> again;
  try {
    again = parse_selector(printed);
  } catch (const SelectorError&) {
    __builtin_trap();  // we print selectors we cannot read back
  }
  if (again.size() != matchers.size()) __builtin_trap();
  for (size_t i = 0; i < again.size(); ++i)
    if (again[i].type() != matchers[i].type() || again[i].name() != matchers[i].name() ||
        again[i].value() != matchers[i].value())
      __builtin_trap();
  return 0;
}
