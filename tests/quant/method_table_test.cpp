// The method table and the option declarations agree with each other and with the format table; the
// checks every run goes through refuse exactly what a method cannot do.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"
#include "quant/quantizer.h"

namespace sqz {
namespace {

// Options good enough for `m` at `bits`: whatever it needs is named (the files are not opened here).
QuantOptions runnable(const Method& m, int bits) {
  QuantOptions o;
  o.method = m.name;
  o.bits = bits;
  o.stats_path = "stats.safetensors";
  if (m.needs_input("inputs", o)) o.calib = {"calib.txt"};
  return o;
}

TEST(MethodTable, ScopesNameMethodsAndGroupKeysAreDeclaredOptions) {
  std::set<std::string> names;
  for (const Method& m : method_table()) names.insert(m.name);
  EXPECT_EQ(names.size(), method_table().size());
  QuantOptions::declare([&](auto, const OptionDecl& d) {
    for (std::string_view s : split_commas(d.scope)) EXPECT_TRUE(names.count(std::string(s))) << d.name << ": " << s;
  });
  // The flag of a format's group key is a declared option that applies to every method of that format
  // (group_size: --group-size for rtn, gptq, awq; block_size: --block-size for nf4).
  for (const Method& m : method_table()) {
    const kernels::Format& f = m.storage();
    if (!f.group_key) continue;
    bool found = false;
    QuantOptions::declare([&](auto, const OptionDecl& d) {
      if (d.name == option_flag_name(f.group_key)) found = option_applies(d, m.name);
    });
    EXPECT_TRUE(found) << m.name << " " << f.group_key;
  }
}

TEST(MethodTable, WidthsAreTheFormatsAndOthersAreUsageErrors) {
  const std::vector<std::pair<std::string, std::vector<int>>> expected = {
      {"rtn", {2, 3, 4, 8}}, {"gptq", {2, 3, 4, 8}}, {"awq", {2, 3, 4, 8}},
      {"nf4", {4}},          {"smoothquant", {8}},   {"squeezellm", {2, 3, 4}}};
  for (const auto& [name, widths] : expected) {
    const Method& m = method(name);
    EXPECT_EQ(m.bits(), widths) << name;
    for (int b = -1; b <= 33; ++b) {
      const bool ok = std::find(widths.begin(), widths.end(), b) != widths.end();
      if (ok) {
        EXPECT_NO_THROW(validate_quant_options(runnable(m, b))) << name << " " << b;
      } else {
        try {
          validate_quant_options(runnable(m, b));
          ADD_FAILURE() << name << " accepted " << b << " bits";
        } catch (const UsageError& e) {
          EXPECT_NE(std::string(e.what()).find("takes " + m.storage().bits_list() + " bits"), std::string::npos) << e.what();
        }
      }
    }
  }
  EXPECT_THROW(method("bogus"), UsageError);
}

TEST(MethodTable, OptionsOutsideTheirScopeAndBadValuesAreRefused) {
  QuantOptions o = runnable(method("rtn"), 4);
  o.sparsity = 1;  // squeezellm's
  EXPECT_THROW(validate_quant_options(o), UsageError);
  // options_for_case keeps what applies and resets the rest, so the result validates.
  QuantOptions mixed = o;
  mixed.group_size = 64;
  mixed.alpha = 0.8;
  const QuantOptions r = options_for_case(mixed, "rtn");
  EXPECT_EQ(r.group_size, 64);
  EXPECT_EQ(r.sparsity, QuantOptions{}.sparsity);
  EXPECT_EQ(r.alpha, QuantOptions{}.alpha);
  EXPECT_NO_THROW(validate_quant_options(r));
  for (double s : {-1.0, 50.01, std::nan(""), std::numeric_limits<double>::infinity()}) {
    QuantOptions q = runnable(method("squeezellm"), 3);
    q.sparsity = s;
    EXPECT_THROW(validate_quant_options(q), UsageError) << s;
  }
  for (int64_t g : {int64_t{-2}, (int64_t{1} << 30) + 1, int64_t{1} << 31}) {
    for (const char* m : {"rtn", "gptq", "awq"}) {
      QuantOptions q = runnable(method(m), 4);
      q.group_size = g;
      EXPECT_THROW(validate_quant_options(q), UsageError) << m << " " << g;
    }
  }
  QuantOptions gptq = runnable(method("gptq"), 4);
  gptq.stats_path.clear();
  EXPECT_THROW(validate_quant_options(gptq), UsageError);
  QuantOptions awq = runnable(method("awq"), 4);
  awq.calib.clear();
  EXPECT_THROW(validate_quant_options(awq), UsageError);
  // squeezellm without Fisher weighting or error feedback reads no statistics.
  QuantOptions plain = runnable(method("squeezellm"), 3);
  plain.stats_path.clear();
  plain.sensitivity = "none";
  EXPECT_NO_THROW(validate_quant_options(plain));
  plain.error_feedback = true;
  EXPECT_THROW(validate_quant_options(plain), UsageError);
}

// quantization_config: quant_method, each recorded option of the method under its JSON key with its
// value, and the format's keys, which agree with the options.
TEST(MethodTable, QuantConfigIsTheDeclaredOptions) {
  QuantOptions o = runnable(method("gptq"), 3);
  o.group_size = 64;
  o.act_order = true;
  o.damp_percent = 0.05;
  const nlohmann::json j = quant_config(o);
  std::set<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.insert(k);
  std::set<std::string> expected = {"quant_method", "format"};
  for (const std::string& k : option_json_keys<QuantOptions>("gptq")) expected.insert(k);
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(j["format"], "group");
  EXPECT_EQ(j["group_size"], 64);
  EXPECT_EQ(j["act_order"], true);
  EXPECT_DOUBLE_EQ(j["damp_percent"].get<double>(), 0.05);
  EXPECT_FALSE(j.contains("stats"));  // a path: not recorded
  o.group_size = -1;
  EXPECT_EQ(quant_config(o)["group_size"], -1);
  o.group_size = 0;
  EXPECT_EQ(quant_config(o)["group_size"], -1);  // the format stores one group per row as -1
  QuantOptions a = runnable(method("awq"), 4);
  EXPECT_EQ(quant_config(a)["group_size"], 128);  // AWQ's default group
}

}  // namespace
}  // namespace sqz
