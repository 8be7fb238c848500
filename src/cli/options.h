// The command line's side of declared options (core/options.h): each declared member becomes a CLI11
// flag, --name plus its older spellings, with the declaration's help, the member's current value as the
// default shown, and the declaration's file and list handling. Values are checked where the options are
// used (validate_quant_options, calibrate, ...), so the library and the command line refuse the same
// things with the same message.
#pragma once
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/options.h"

namespace sqz::cli {

namespace detail {

// "--name,--alias" with the aliases the command does not already use for something else (calibrate's
// --data is the calibration text, compare's is the evaluation text).
inline std::string flag_names(CLI::App* c, const OptionDecl& d) {
  std::string names = fmt::format("--{}", d.name);
  for (std::string_view a : split_commas(d.aliases))
    if (!a.empty() && !c->get_option_no_throw(fmt::format("--{}", a))) names += fmt::format(",--{}", a);
  return names;
}

inline std::string flag_help(const OptionDecl& d) {
  std::string h(d.help);
  if (!d.choices.empty()) h += fmt::format(" ({})", join_strings(d.choices, " | "));
  if (!d.scope.empty()) h += fmt::format(" [{}]", join_strings(split_commas(d.scope), ", "));
  return h;
}

template <typename T>
void add_flag(CLI::App* c, T& value, const OptionDecl& d) {
  if constexpr (std::is_same_v<T, bool>) {
    // A flag turns on what is off by default (--error-feedback); one that is on by default is turned off
    // by --no-NAME (--no-smooth).
    if (!value) {
      c->add_flag(flag_names(c, d), value, flag_help(d));
    } else {
      OptionDecl negated = d;
      const std::string name = fmt::format("no-{}", d.name);
      negated.name = name;
      negated.aliases = {};
      c->add_flag_function(flag_names(c, negated), [&value](int64_t) { value = false; }, flag_help(d));
    }
  } else {
    CLI::Option* opt = c->add_option(flag_names(c, d), value, flag_help(d));
    if constexpr (::sqz::detail::is_vector<T>::value) {
      if (d.comma_list) opt->delimiter(',');
    }
    if (d.files) opt->check(CLI::ExistingFile);
    if (d.required)
      opt->required();
    else
      opt->capture_default_str();
  }
}

}  // namespace detail

// Registers every declared option of `o` on command `c`, except those named in `skip` (which the command
// owns, e.g. compare's schedule gives method and bits).
template <class Opts>
void add_options(CLI::App* c, Opts& o, std::initializer_list<std::string_view> skip = {}) {
  Opts::declare([&](auto member, const OptionDecl& d) {
    if (std::find(skip.begin(), skip.end(), d.name) != skip.end()) return;
    detail::add_flag(c, o.*member, d);
  });
}

}  // namespace sqz::cli
