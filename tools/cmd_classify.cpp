// `octet classify`: label texts with an encoder, in batches, as JSON lines.
#include "engine/core/error.h"
#include "engine/session/classification_metrics.h"
#include "engine/session/encoder_session.h"
#include "engine/text/text_records.h"
#include "engine/text/tokenizer_config.h"
#include "tools/classification_json.h"
#include "tools/cli_common.h"
#include "tools/commands.h"

#include <fmt/format.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>

namespace octet::cli {

namespace {

// The class a gold label names: its id2label name, or its number.
std::optional<int> label_index(const std::string& label, const std::vector<std::string>& labels) {
  const auto it = std::find(labels.begin(), labels.end(), label);
  if (it != labels.end()) return static_cast<int>(it - labels.begin());
  int n = -1;
  const auto [end, ec] = std::from_chars(label.data(), label.data() + label.size(), n);
  if (ec == std::errc() && end == label.data() + label.size() && n >= 0 && n < static_cast<int>(labels.size())) {
    return n;
  }
  return std::nullopt;
}

// "[=====>    ] 320/872 37%  512.0 texts/s  ETA 1s", redrawn in place.
void draw_progress(std::size_t done, std::size_t total, double seconds) {
  constexpr int kWidth = 30;
  const double frac = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(frac * kWidth);
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0.0;
  std::cerr << fmt::format("\r[{}{}] {}/{} {:3.0f}%  {:.1f} texts/s  ETA {:.0f}s ", std::string(filled, '='),
                           std::string(kWidth - filled, ' '), done, total, 100.0 * frac, rate, eta)
            << (done == total ? "\n" : "") << std::flush;
}

}  // namespace

int run_classify(int argc, char** argv) {
  cxxopts::Options options(
      "octet classify",
      "Classify texts with an encoder (BERT, RoBERTa, DistilBERT with a sequence-classification head) and write\n"
      "  one JSON object per text, in input order: {\"line\", \"label\", \"score\"} (plus \"probs\" with --top-k).\n"
      "  A model without a head writes {\"line\", \"embedding\"} (see --pooling). Input: TEXT arguments, or\n"
      "  -i FILE (or stdin) as plain lines, TSV or CSV with a header row, or JSON lines {\"text\": ...}. When the\n"
      "  input has gold labels (a \"label\" column or field), a summary follows on stderr: accuracy, per-class\n"
      "  precision, recall and F1, the confusion matrix and texts per second.");
  add_model_options(options, ModelKind::Encoder);
  auto add = options.add_options("Classify");
  add("i,input", "file to classify; - or absent reads stdin (unless TEXT is given)", cxxopts::value<std::string>());
  add("o,output", "write the JSON lines here instead of stdout", cxxopts::value<std::string>());
  add("format", "input format: lines, tsv, csv or jsonl (default: from the file's extension, else lines)",
      cxxopts::value<std::string>());
  add("text-column", "TSV/CSV column or JSON field with the text (default: text, else sentence)",
      cxxopts::value<std::string>()->default_value(""));
  add("text-pair-column", "column or field with a second text, for pair classification",
      cxxopts::value<std::string>()->default_value(""));
  add("label-column", "column or field with the gold label, a name or a class number (default: label, if present)",
      cxxopts::value<std::string>()->default_value(""));
  add("b,batch", "texts per batch (sorted by length inside)", cxxopts::value<int>()->default_value("32"));
  add("top-k", "also write the probabilities of the k most likely classes (0 = none)",
      cxxopts::value<int>()->default_value("0"));
  add("skip-bad",
      "report a bad line (invalid UTF-8, missing column, empty text, unknown label) and go on; "
      "without it, a bad line stops the run");
  add("summary-json", "also write the summary (accuracy, count, texts per second, per class) to this file",
      cxxopts::value<std::string>());
  options.positional_help("[TEXT...]");
  // The texts are operands, taken whole: a vector option would split them at commas.
  std::vector<std::string> texts;
  const auto args = parse_or_help(options, argc, argv, &texts);
  const int batch = args["batch"].as<int>();
  if (batch <= 0) fail("--batch must be positive, got {}", batch);
  const int top_k = args["top-k"].as<int>();
  if (top_k < 0) fail("--top-k must be >= 0, got {}", top_k);

  // Read every record first: a bad file fails before the model loads.
  std::vector<TextRecord> records;
  std::string source = "stdin";
  RecordColumns columns{args["text-column"].as<std::string>(), args["text-pair-column"].as<std::string>(),
                        args["label-column"].as<std::string>()};
  const auto format_of = [&](RecordFormat fallback) {
    if (!args.count("format")) return fallback;
    const auto f = record_format_from_name(args["format"].as<std::string>());
    if (!f) fail("--format '{}' is not a format: use lines, tsv, csv or jsonl", args["format"].as<std::string>());
    return *f;
  };
  if (!texts.empty()) {
    if (args.count("input")) fail("give TEXT arguments or --input, not both");
    if (args.count("format")) fail("--format describes --input or stdin; TEXT arguments are plain texts");
    source = "argument";
    std::size_t n = 0;
    for (const auto& text : texts) {
      TextRecord r;
      r.line = ++n;
      r.text = text;  // framing reports invalid UTF-8 and empty texts
      records.push_back(std::move(r));
    }
  } else if (args.count("input") && args["input"].as<std::string>() != "-") {
    source = args["input"].as<std::string>();
    std::ifstream in(source, std::ios::binary);
    if (!in) fail("{}: cannot open", source);
    records = read_text_records(in, format_of(record_format_for_path(source)), columns, source);
  } else {
    if (isatty(STDIN_FILENO)) std::cerr << "reading texts from stdin, one per line (Ctrl-D ends)\n";
    records = read_text_records(std::cin, format_of(RecordFormat::Lines), columns, source);
  }
  if (records.empty()) fail("{}: no texts to classify", source);

  LoadedModel loaded = load_model(args, ModelKind::Encoder);
  const std::vector<std::string>& labels = loaded.model->info().labels;
  EncoderSession session(*loaded.model, loaded.backends.placement(), *loaded.tokenizer,
                         read_tokenizer_config(loaded.path));

  const auto start = std::chrono::steady_clock::now();
  std::vector<FramedText> framed;
  std::vector<std::size_t> kept;  // record index of each framed text
  std::vector<int> gold;
  bool has_gold = !labels.empty();
  std::size_t skipped = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    TextRecord& r = records[i];
    std::optional<int> g;
    if (r.error.empty() && r.label && !labels.empty()) {
      g = label_index(*r.label, labels);
      if (!g) r.error = fmt::format("label '{}' is not one of {}", *r.label, fmt::join(labels, ", "));
    }
    if (r.error.empty()) {
      try {
        framed.push_back(session.frame(r.text, r.text_pair));
      } catch (const Error& e) {
        r.error = e.what();
      }
    }
    if (!r.error.empty()) {
      if (!args.count("skip-bad"))
        fail("{}:{}: {} (--skip-bad reports such lines and goes on)", source, r.line, r.error);
      std::cerr << fmt::format("{}:{}: skipped: {}\n", source, r.line, r.error);
      ++skipped;
      continue;
    }
    kept.push_back(i);
    has_gold = has_gold && g.has_value();
    gold.push_back(g.value_or(-1));
  }
  if (framed.empty()) fail("{}: every line was bad; nothing to classify", source);

  const bool show_progress = isatty(STDERR_FILENO) && framed.size() > static_cast<std::size_t>(4 * batch);
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const auto rows = session.run(framed, batch, [&](std::size_t done) {
    if (show_progress) draw_progress(done, framed.size(), elapsed());
  });
  const double seconds = elapsed();
  // A NaN or infinity (a broken checkpoint, activations that overflowed)
  // stops the run before any output is written.
  for (std::size_t j = 0; j < rows.size(); ++j) {
    const auto bad = std::find_if(rows[j].begin(), rows[j].end(), [](float v) { return !std::isfinite(v); });
    if (bad != rows[j].end()) {
      fail("line {}: the model's output {} is {}: its weights or activations are not finite numbers",
           records[kept[j]].line, bad - rows[j].begin(), *bad);
    }
  }

  std::ofstream file;
  if (args.count("output")) {
    file.open(args["output"].as<std::string>(), std::ios::binary);
    if (!file) fail("{}: cannot write", args["output"].as<std::string>());
  }
  std::ostream& out = args.count("output") ? file : std::cout;
  std::vector<int> predicted;
  for (std::size_t j = 0; j < rows.size(); ++j) {
    nlohmann::ordered_json o = {{"line", records[kept[j]].line}};
    if (labels.empty()) {
      o["embedding"] = rows[j];
    } else {
      predicted.push_back(predicted_class(rows[j]));
      o.update(classification_json(rows[j], labels, top_k));
      if (records[kept[j]].label) o["gold"] = *records[kept[j]].label;
    }
    out << o.dump() << '\n';
  }
  out.flush();
  if (!out) fail("writing the results failed");

  const double rate = static_cast<double>(rows.size()) / seconds;
  std::cerr << fmt::format("{} texts in {:.2f} s: {:.1f} texts/s (batch {}, {}){}\n", rows.size(), seconds, rate, batch,
                           running_scheme(*loaded.model),
                           skipped > 0 ? fmt::format(", {} bad lines skipped", skipped) : "");
  nlohmann::json summary = {{"model", loaded.path},
                            {"input", source},
                            {"quant", running_scheme(*loaded.model)},
                            {"batch", batch},
                            {"count", rows.size()},
                            {"skipped", skipped},
                            {"seconds", seconds},
                            {"sentences_per_second", rate}};
  const auto write_summary = [&] {
    if (!args.count("summary-json")) return;
    const std::string path = args["summary-json"].as<std::string>();
    std::ofstream f(path);
    if (!(f << summary.dump(2) << '\n')) fail("{}: cannot write the summary", path);
  };
  if (!has_gold) {
    write_summary();
    return 0;
  }
  const ClassificationMetrics m = classification_metrics(gold, predicted, static_cast<int>(labels.size()));
  std::size_t width = 9;
  for (const auto& l : labels) width = std::max(width, l.size());
  std::cerr << fmt::format("accuracy {:.2f}% ({} texts)\n", 100.0 * m.accuracy, m.count)
            << fmt::format("{:<{}}  precision  recall      f1  support\n", "class", width);
  for (std::size_t c = 0; c < labels.size(); ++c) {
    const ClassMetrics& k = m.classes[c];
    std::cerr << fmt::format("{:<{}}  {:9.4f}  {:6.4f}  {:6.4f}  {:7}\n", labels[c], width, k.precision, k.recall, k.f1,
                             k.support);
  }
  std::cerr << "confusion (rows: gold, columns: predicted)\n" << fmt::format("{:<{}}", "", width);
  for (const auto& l : labels) std::cerr << fmt::format("  {:>{}}", l, width);
  std::cerr << "\n";
  for (std::size_t g = 0; g < labels.size(); ++g) {
    std::cerr << fmt::format("{:<{}}", labels[g], width);
    for (std::size_t p = 0; p < labels.size(); ++p) std::cerr << fmt::format("  {:>{}}", m.confusion[g][p], width);
    std::cerr << "\n";
  }
  summary["accuracy"] = m.accuracy;
  summary["labels"] = labels;
  summary["confusion"] = m.confusion;
  for (std::size_t c = 0; c < labels.size(); ++c) {
    const ClassMetrics& k = m.classes[c];
    summary["classes"][labels[c]] = {
        {"precision", k.precision}, {"recall", k.recall}, {"f1", k.f1}, {"support", k.support}};
  }
  write_summary();
  return 0;
}

}  // namespace octet::cli
