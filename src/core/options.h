// Options declared once. An options struct lists each of its members with one OptionDecl in a static
// `declare(visitor)`: visitor(&Struct::member, decl) per member. Everything that needs to know the
// options walks that list instead of repeating it: the command line (cli/options.h registers each member
// as a flag with its help, default and older spellings), the JSON record of a run (a quantized model's
// quantization_config), value checks, and copying the options that apply to one case (e.g. one method)
// out of a shared set. The visitor gets member pointers, not references, so one walk can read one object
// and write another (the idea of gemma.cpp's util/args.h visitor, with the object left out of it).
#pragma once
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.h"

namespace sqz {

struct OptionDecl {
  std::string_view name;  // the flag --name; its JSON key is the name with '-' -> '_'
  std::string_view help;
  std::string_view aliases = {};  // older spellings, comma-separated, without dashes ("group")
  std::string_view scope = {};    // comma-separated cases it applies to (quantization methods); empty: all
  std::vector<std::string_view> choices = {};  // the values a string (or each element of a list) may take
  double min = -std::numeric_limits<double>::infinity();  // range of a number (NaN is never valid)
  double max = std::numeric_limits<double>::infinity();
  bool recorded = true;     // written to the JSON record (false for file paths and other run-only inputs)
  bool files = false;       // names files that must exist
  bool comma_list = false;  // a list given as one comma-separated value ("3,4,8")
  bool required = false;
};

// The declaration of a required list of input text files (read, not recorded in the JSON), e.g. --calib.
inline OptionDecl text_files_option(std::string_view name, std::string_view help, std::string_view aliases) {
  return {.name = name, .help = help, .aliases = aliases, .recorded = false, .files = true, .required = true};
}

inline std::string option_json_key(std::string_view name) {
  std::string k(name);
  for (char& c : k)
    if (c == '-') c = '_';
  return k;
}

// The flag spelling of a JSON key: group_size -> group-size.
inline std::string option_flag_name(std::string_view json_key) {
  std::string k(json_key);
  for (char& c : k)
    if (c == '_') c = '-';
  return k;
}

// "a, b, c" (fmt::join over strings trips a false -Wstringop-overflow in GCC with fmt 9).
template <class Range>
std::string join_strings(const Range& items, std::string_view sep) {
  std::string s;
  for (const auto& i : items) {
    if (!s.empty()) s += sep;
    s += i;
  }
  return s;
}

// Splits "a,b,c" (spaces around the items are not allowed in declarations, so none are trimmed).
inline std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const size_t p = s.find(',');
    out.push_back(s.substr(0, p));
    if (p == std::string_view::npos) break;
    s.remove_prefix(p + 1);
  }
  return out;
}

inline bool option_applies(const OptionDecl& d, std::string_view case_name) {
  if (d.scope.empty()) return true;
  for (std::string_view s : split_commas(d.scope))
    if (s == case_name) return true;
  return false;
}

// "a number from 0 to 50", "an integer of at least 1", "one of exact, lloyd": the valid values.
inline std::string option_valid_values(const OptionDecl& d, bool integer) {
  if (!d.choices.empty()) return fmt::format("one of {}", join_strings(d.choices, ", "));
  const char* kind = integer ? "an integer" : "a number";
  const bool lo = std::isfinite(d.min), hi = std::isfinite(d.max);
  if (lo && hi) return fmt::format("{} from {} to {}", kind, d.min, d.max);
  if (lo) return fmt::format("{} of at least {}", kind, d.min);
  if (hi) return fmt::format("{} of at most {}", kind, d.max);
  return fmt::format("{}", kind);
}

namespace detail {

template <typename T>
struct is_vector : std::false_type {};
template <typename T>
struct is_vector<std::vector<T>> : std::true_type {};

template <typename T>
void check_option_value(const T& v, const OptionDecl& d) {
  if constexpr (is_vector<T>::value) {
    for (const auto& e : v) check_option_value(e, d);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (d.choices.empty()) return;
    for (std::string_view c : d.choices)
      if (v == c) return;
    usage_fail("--{} \"{}\" is not valid: {}", d.name, v, option_valid_values(d, false));
  } else if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
    const double x = (double)v;
    if (!(x >= d.min && x <= d.max))  // NaN fails both
      usage_fail("--{} {} is not valid: {}", d.name, v, option_valid_values(d, std::is_integral_v<T>));
  }
}

}  // namespace detail

// Checks every declared value of `o` that applies to `case_name` (all when empty) against its range or
// choices; throws UsageError "--name VALUE is not valid: <the valid values>".
template <class Opts>
void check_option_values(const Opts& o, std::string_view case_name = {}) {
  Opts::declare([&](auto member, const OptionDecl& d) {
    if (case_name.empty() || option_applies(d, case_name)) detail::check_option_value(o.*member, d);
  });
}

// Options that do not apply to `case_name` must keep their defaults: a value given for them would be
// ignored silently. Throws UsageError "--name does not apply to <what> (only to ...)".
template <class Opts>
void check_option_scope(const Opts& o, std::string_view case_name, std::string_view what) {
  static const Opts defaults{};
  Opts::declare([&](auto member, const OptionDecl& d) {
    if (!option_applies(d, case_name) && !(o.*member == defaults.*member))
      usage_fail("--{} does not apply to {} (only to {})", d.name, what, join_strings(split_commas(d.scope), ", "));
  });
}

// `o` with every option that does not apply to `case_name` reset to its default.
template <class Opts>
Opts options_for_case(const Opts& o, std::string_view case_name) {
  static const Opts defaults{};
  Opts r = o;
  Opts::declare([&](auto member, const OptionDecl& d) {
    if (!option_applies(d, case_name)) r.*member = defaults.*member;
  });
  return r;
}

// Writes the recorded options that apply to `case_name` (all when empty) into j, under their JSON keys.
template <class Opts>
void options_to_json(const Opts& o, nlohmann::json& j, std::string_view case_name = {}) {
  Opts::declare([&](auto member, const OptionDecl& d) {
    if (d.recorded && (case_name.empty() || option_applies(d, case_name))) j[option_json_key(d.name)] = o.*member;
  });
}

// The JSON keys options_to_json writes for `case_name`.
template <class Opts>
std::vector<std::string> option_json_keys(std::string_view case_name = {}) {
  std::vector<std::string> keys;
  Opts::declare([&](auto, const OptionDecl& d) {
    if (d.recorded && (case_name.empty() || option_applies(d, case_name))) keys.push_back(option_json_key(d.name));
  });
  return keys;
}

}  // namespace sqz
