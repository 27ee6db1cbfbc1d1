#include "engine/io/json_file.h"
#include "tests/test_support.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace octet {
namespace {

TEST(JsonAs, IntegersMustBeIntegersInRange) {
  EXPECT_EQ(json_as<std::int32_t>(Json(-7)), -7);
  EXPECT_EQ(json_as<std::int32_t>(Json(2147483647)), 2147483647);
  EXPECT_FALSE(json_as<std::int32_t>(Json(std::int64_t{1} << 40))) << "nlohmann would wrap it";
  EXPECT_FALSE(json_as<std::int32_t>(Json(2.5))) << "nlohmann would truncate it";
  EXPECT_FALSE(json_as<std::int64_t>(Json(1e300))) << "nlohmann's cast is undefined behaviour";
  EXPECT_FALSE(json_as<std::int64_t>(Json(true)));
  EXPECT_FALSE(json_as<std::uint32_t>(Json(-1)));
  // Parsed JSON keeps numbers above 2^63 unsigned; read as int64 they would be -1.
  const Json big = Json::parse("18446744073709551615");
  EXPECT_FALSE(json_as<std::int64_t>(big));
  EXPECT_EQ(json_as<std::uint64_t>(big), std::numeric_limits<std::uint64_t>::max());
}

TEST(JsonAs, FloatsBoolsStringsAndLists) {
  EXPECT_EQ(json_as<float>(Json(1e-5)), 1e-5f);
  EXPECT_EQ(json_as<float>(Json(3)), 3.0f) << "an integer is a number";
  EXPECT_FALSE(json_as<float>(Json(1e300))) << "beyond float: undefined behaviour to convert";
  EXPECT_EQ(json_as<double>(Json(1e300)), 1e300);
  EXPECT_FALSE(json_as<double>(Json("1.0")));
  EXPECT_EQ(json_as<bool>(Json(false)), false);
  EXPECT_FALSE(json_as<bool>(Json(0)));
  EXPECT_EQ(json_as<std::string>(Json("silu")), "silu");
  EXPECT_FALSE(json_as<std::string>(Json(1)));
  EXPECT_EQ(json_as<std::vector<std::int32_t>>(Json::parse("[2, 128001]")), (std::vector<std::int32_t>{2, 128001}));
  EXPECT_FALSE(json_as<std::vector<std::int32_t>>(Json::parse("[2, 2.5]")));
  EXPECT_FALSE(json_as<std::vector<std::int32_t>>(Json(2)));
}

TEST(JsonAs, RequiredAndOptionalNameTheFileAndKey) {
  const Json config = Json::parse(R"({"hidden_size": 64.5, "name": null})");
  EXPECT_EQ(test::error_of([&] { json_required<std::int64_t>(config, "hidden_size", "m/config.json"); }),
            "m/config.json: key 'hidden_size' has the wrong type or is out of range (64.5)");
  EXPECT_EQ(json_optional<std::string>(config, "name", "fallback", "m/config.json"), "fallback") << "null = absent";
  EXPECT_EQ(json_optional<std::int64_t>(Json::array(), "x", 3, "m/config.json"), 3) << "not an object: nothing in it";
  EXPECT_THROW(json_required<std::int64_t>(Json::array(), "x", "m/config.json"), Error);
}

}  // namespace
}  // namespace octet
