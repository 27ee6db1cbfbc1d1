#include "engine/text/text_records.h"

#include "engine/core/error.h"
#include "engine/text/utf8.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <utility>

namespace octet {

std::optional<RecordFormat> record_format_from_name(const std::string& name) {
  if (name == "lines") return RecordFormat::Lines;
  if (name == "tsv") return RecordFormat::Tsv;
  if (name == "csv") return RecordFormat::Csv;
  if (name == "jsonl") return RecordFormat::Jsonl;
  return std::nullopt;
}

RecordFormat record_format_for_path(const std::string& path) {
  if (path.ends_with(".tsv")) return RecordFormat::Tsv;
  if (path.ends_with(".csv")) return RecordFormat::Csv;
  if (path.ends_with(".jsonl") || path.ends_with(".json")) return RecordFormat::Jsonl;
  return RecordFormat::Lines;
}

namespace {

// Splits CSV records (RFC 4180: commas, double quotes, "" for a quote) a line
// at a time, so a quoted field may span lines. Each character is read once:
// re-splitting the joined lines while a quote stayed open made a file with an
// unclosed quote near its top take quadratic time (a 4 MB file: minutes).
class CsvRecordSplitter {
 public:
  // Adds the next line of the record; true when it is complete.
  bool add_line(std::string_view line) {
    if (quoted_) fields_.back() += '\n';  // the line break was inside the quotes
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted_) {
        if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
          fields_.back() += '"';
          ++i;
        } else if (c == '"') {
          quoted_ = false;
        } else {
          fields_.back() += c;
        }
      } else if (c == '"') {
        quoted_ = true;
      } else if (c == ',') {
        fields_.emplace_back();
      } else {
        fields_.back() += c;
      }
    }
    return !quoted_;
  }
  std::vector<std::string> take() { return std::exchange(fields_, std::vector<std::string>(1)); }

 private:
  std::vector<std::string> fields_ = std::vector<std::string>(1);
  bool quoted_ = false;
};

std::vector<std::string> split_tsv(const std::string& line) {
  std::vector<std::string> fields(1);
  for (char c : line) {
    if (c == '\t') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

// A text ready for the tokenizer, or why not.
std::string check_text(const std::string& text, const char* what) {
  if (const auto bad = find_invalid_utf8(text)) return fmt::format("{}: invalid UTF-8 at byte {}", what, *bad);
  if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); })) {
    return fmt::format("{} is empty", what);
  }
  return "";
}

// Reads one line; a CSV record may continue over lines inside quotes.
bool next_line(std::istream& in, std::string& line, std::size_t& line_no) {
  if (!std::getline(in, line)) return false;
  ++line_no;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

}  // namespace

std::vector<TextRecord> read_text_records(std::istream& in, RecordFormat format, const RecordColumns& columns,
                                          const std::string& source) {
  std::vector<TextRecord> out;
  std::string line;
  std::size_t line_no = 0;
  if (format == RecordFormat::Lines || format == RecordFormat::Jsonl) {
    const std::string text_key = columns.text.empty() ? "text" : columns.text;
    const std::string label_key = columns.label.empty() ? "label" : columns.label;
    while (next_line(in, line, line_no)) {
      TextRecord r;
      r.line = line_no;
      if (format == RecordFormat::Lines) {
        if (line.empty()) continue;  // blank lines separate nothing in a plain list
        r.text = line;
        r.error = check_text(r.text, "text");
        out.push_back(std::move(r));
        continue;
      }
      if (std::all_of(line.begin(), line.end(), [](unsigned char c) { return std::isspace(c); })) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        r.error = fmt::format("not JSON ({})", e.what());
        out.push_back(std::move(r));
        continue;
      }
      const auto string_field = [&](const std::string& key) -> std::optional<std::string> {
        if (!j.is_object() || !j.contains(key) || j[key].is_null()) return std::nullopt;
        if (j[key].is_string()) return j[key].get<std::string>();
        if (j[key].is_number_integer()) return j[key].dump();  // exact, unsigned ones too
        return std::nullopt;
      };
      const auto text = string_field(text_key);
      if (!text) {
        r.error = fmt::format("no string \"{}\"", text_key);
      } else {
        r.text = *text;
        r.error = check_text(r.text, "text");
      }
      if (!columns.text_pair.empty()) {
        r.text_pair = string_field(columns.text_pair);
        if (!r.text_pair && r.error.empty()) r.error = fmt::format("no string \"{}\"", columns.text_pair);
        if (r.text_pair && r.error.empty()) r.error = check_text(*r.text_pair, "second text");
      }
      r.label = string_field(label_key);
      out.push_back(std::move(r));
    }
    return out;
  }

  // TSV / CSV: a header row names the columns.
  const bool csv = format == RecordFormat::Csv;
  // The fields of the record that starts with `first`, reading more lines
  // while a quoted field is open; nullopt when the input ends inside one.
  const auto split = [&](const std::string& first) -> std::optional<std::vector<std::string>> {
    if (!csv) return split_tsv(first);
    CsvRecordSplitter record;
    bool complete = record.add_line(first);
    for (std::string more; !complete && next_line(in, more, line_no);) complete = record.add_line(more);
    if (!complete) return std::nullopt;
    return record.take();
  };
  if (!next_line(in, line, line_no)) return out;
  const auto header = split(line);
  if (!header) fail("{}: the header row has an unclosed quote", source);
  const auto find = [&](const std::string& name) -> int {
    const auto it = std::find(header->begin(), header->end(), name);
    return it == header->end() ? -1 : static_cast<int>(it - header->begin());
  };
  int text_col = columns.text.empty() ? (find("text") >= 0 ? find("text") : find("sentence")) : find(columns.text);
  if (text_col < 0) {
    fail("{}: no column '{}' in the header ({}); choose one with --text-column", source,
         columns.text.empty() ? "text" : columns.text, fmt::join(*header, ", "));
  }
  const int pair_col = columns.text_pair.empty() ? -1 : find(columns.text_pair);
  if (!columns.text_pair.empty() && pair_col < 0) fail("{}: no column '{}' in the header", source, columns.text_pair);
  const int label_col = find(columns.label.empty() ? "label" : columns.label);
  if (!columns.label.empty() && label_col < 0) fail("{}: no column '{}' in the header", source, columns.label);

  while (next_line(in, line, line_no)) {
    TextRecord r;
    r.line = line_no;
    if (line.empty()) continue;
    const auto fields = split(line);
    if (!fields) {
      r.error = "a quoted field is never closed";
      out.push_back(std::move(r));
      break;
    }
    const auto column = [&](int col) -> const std::string* {
      return col >= 0 && static_cast<std::size_t>(col) < fields->size() ? &(*fields)[static_cast<std::size_t>(col)]
                                                                        : nullptr;
    };
    if (const std::string* t = column(text_col)) {
      r.text = *t;
      r.error = check_text(r.text, "text");
    } else {
      r.error = fmt::format("{} fields, no column {} ('{}')", fields->size(), text_col + 1,
                            (*header)[static_cast<std::size_t>(text_col)]);
    }
    if (pair_col >= 0) {
      if (const std::string* t = column(pair_col)) {
        r.text_pair = *t;
        if (r.error.empty()) r.error = check_text(*t, "second text");
      } else if (r.error.empty()) {
        r.error = fmt::format("{} fields, no column {}", fields->size(), pair_col + 1);
      }
    }
    if (const std::string* l = column(label_col)) {
      r.label = *l;
      // SST-2 style files pad the sentence with a trailing space; labels are trimmed.
      while (!r.label->empty() && std::isspace(static_cast<unsigned char>(r.label->back()))) r.label->pop_back();
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace octet
