// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the reader of tcp_wrappers option fields, which the judge runs on hosts.allow
// and hosts.deny. A refused option is a keyword taken from the field, and only a lone allow or deny
// decides.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "privsep/wrappers_options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view field(reinterpret_cast<const char*>(data), size);
  const moat::OptionField f = moat::classify_option_field(field);
  if (f.kind != moat::OptionField::kRefused) {
    if (!f.option.empty()) abort();
    return 0;
  }
  if (!f.option.empty() && (f.option.data() < field.data() ||
                            f.option.data() + f.option.size() > field.data() + field.size()))
    abort();
  if (f.option.find_first_of(" \t=") != std::string_view::npos) abort();
  (void)moat::wrappers_option_name(moat::wrappers_option_index(f.option));
  return 0;
}
