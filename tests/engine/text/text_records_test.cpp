// Reading classification input, and the metrics computed from its labels.
#include "engine/text/text_records.h"
#include "engine/core/error.h"
#include "engine/session/classification_metrics.h"

#include <gtest/gtest.h>

#include <sstream>

namespace octet {
namespace {

std::vector<TextRecord> read(const std::string& text, RecordFormat format, RecordColumns columns = {}) {
  std::istringstream in(text);
  return read_text_records(in, format, columns, "input");
}

TEST(TextRecords, TsvWithHeaderPicksColumnsByName) {
  const auto r = read("sentence\tlabel\nit 's good . \t1\nbad\t0\n\n\tno text\n", RecordFormat::Tsv);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].text, "it 's good . ");
  EXPECT_EQ(r[0].label, "1");
  EXPECT_EQ(r[0].line, 2u);
  EXPECT_EQ(r[1].label, "0");
  EXPECT_EQ(r[2].line, 5u);
  EXPECT_NE(r[2].error.find("empty"), std::string::npos) << r[2].error;
}

TEST(TextRecords, CsvHandlesQuotesAndMultiLineFields) {
  const auto r = read("id,text,label\n1,\"a, \"\"quoted\"\" text\",pos\n2,\"two\nlines\",neg\n3\n", RecordFormat::Csv);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].text, "a, \"quoted\" text");
  EXPECT_EQ(r[0].label, "pos");
  EXPECT_EQ(r[1].text, "two\nlines");
  EXPECT_EQ(r[1].line, 3u);
  EXPECT_NE(r[2].error.find("no column 2"), std::string::npos) << r[2].error;
}

// A quote left open near the top swallows the rest of the file into one
// field. Reading it must still be linear: re-splitting the joined lines at
// every line took minutes on a 4 MB file, so ctest's timeout guards this.
TEST(TextRecords, CsvUnclosedQuoteIsOneErrorAtItsLine) {
  std::string text = "text,label\nfine,1\n\"never closed,1\n";
  for (int i = 0; i < 100000; ++i) text += "a line of the rest of the file, \"\" with a quote pair,0\n";
  const auto r = read(text, RecordFormat::Csv);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].text, "fine");
  EXPECT_EQ(r[1].line, 3u);
  EXPECT_EQ(r[1].error, "a quoted field is never closed");
  EXPECT_THROW(read("\"text,label\nx,1\n", RecordFormat::Csv), Error) << "the header's quote is never closed";
}

TEST(TextRecords, PairColumnsAndAMissingHeaderColumn) {
  const auto r = read("premise\thypothesis\nA\tB\n", RecordFormat::Tsv, {"premise", "hypothesis", ""});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].text, "A");
  EXPECT_EQ(r[0].text_pair, "B");
  EXPECT_FALSE(r[0].label.has_value());
  EXPECT_THROW(read("a\tb\nx\ty\n", RecordFormat::Tsv), Error);  // no "text" or "sentence" column
  EXPECT_THROW(read("text\nx\n", RecordFormat::Tsv, {"", "", "gold"}), Error);
}

TEST(TextRecords, JsonLinesReportBadLinesWithTheirNumbers) {
  const auto r = read("{\"text\": \"fine\", \"label\": 1}\nnot json\n{\"txt\": \"x\"}\n{\"text\": \"\\u00e9\"}\n",
                      RecordFormat::Jsonl);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_TRUE(r[0].error.empty());
  EXPECT_EQ(r[0].label, "1");
  EXPECT_EQ(r[1].line, 2u);
  EXPECT_NE(r[1].error.find("not JSON"), std::string::npos);
  EXPECT_NE(r[2].error.find("no string \"text\""), std::string::npos);
  EXPECT_EQ(r[3].text, "\xC3\xA9");
}

TEST(TextRecords, PlainLinesFlagInvalidUtf8) {
  const auto r = read("good\nbad \xFF byte\n", RecordFormat::Lines);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].error.empty());
  EXPECT_NE(r[1].error.find("invalid UTF-8 at byte 4"), std::string::npos) << r[1].error;
}

TEST(ClassificationMetrics, MatchHandCountedValues) {
  // gold 0 0 0 1 1 2; predicted 0 1 0 1 2 2
  const auto m = classification_metrics({0, 0, 0, 1, 1, 2}, {0, 1, 0, 1, 2, 2}, 3);
  EXPECT_EQ(m.count, 6u);
  EXPECT_DOUBLE_EQ(m.accuracy, 4.0 / 6.0);
  EXPECT_EQ(m.confusion, (std::vector<std::vector<std::size_t>>{{2, 1, 0}, {0, 1, 1}, {0, 0, 1}}));
  EXPECT_DOUBLE_EQ(m.classes[0].precision, 1.0);
  EXPECT_DOUBLE_EQ(m.classes[0].recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.classes[0].f1, 0.8);
  EXPECT_DOUBLE_EQ(m.classes[1].precision, 0.5);
  EXPECT_DOUBLE_EQ(m.classes[1].recall, 0.5);
  EXPECT_DOUBLE_EQ(m.classes[2].precision, 0.5);
  EXPECT_DOUBLE_EQ(m.classes[2].recall, 1.0);
  EXPECT_EQ(m.classes[2].support, 1u);
  EXPECT_THROW(classification_metrics({0, 3}, {0, 0}, 3), Error);
}

}  // namespace
}  // namespace octet
