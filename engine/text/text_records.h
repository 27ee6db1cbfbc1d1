// Reading texts to classify: plain lines, TSV or CSV with a header row
// (columns chosen by name), or JSON lines ({"text": ...}). A line that
// cannot give a text (invalid UTF-8, a missing column, an empty text, bad
// JSON) becomes a record with an error, never silently nothing.
#pragma once

#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace octet {

enum class RecordFormat { Lines, Tsv, Csv, Jsonl };

// "lines", "tsv", "csv", "jsonl"; nullopt for anything else.
std::optional<RecordFormat> record_format_from_name(const std::string& name);
// From a file name's extension (.tsv, .csv, .jsonl, .json); Lines otherwise.
RecordFormat record_format_for_path(const std::string& path);

struct RecordColumns {
  std::string text;       // "" = "text", else "sentence" (TSV/CSV: whichever the header has)
  std::string text_pair;  // optional second text, for pair classification
  std::string label;      // "" = "label" when present
};

struct TextRecord {
  std::size_t line = 0;  // 1-based line where the record starts
  std::string text;
  std::optional<std::string> text_pair;
  std::optional<std::string> label;  // the gold label as written
  std::string error;                 // non-empty: why this line gives no text
};

// Reads every record of `in`. Throws octet::Error naming `source` when the
// header lacks a requested column (every line would fail).
std::vector<TextRecord> read_text_records(std::istream& in, RecordFormat format, const RecordColumns& columns,
                                          const std::string& source);

}  // namespace octet
