#pragma once
// The one document builder of report/: headings, paragraphs, bullet and numbered lists, tables
// and images, rendered to Markdown and to one self-contained HTML page (CSS inline, images
// embedded as data: URIs, no external URL). The comprehensive report, the execution plan and the
// sales summary are all built as a Document, so headings, tables and lists are written one way:
//   "# title", a blank line after every block, "| a | b |" rows under a "|---|---|" rule, an
//   empty cell written "-", '|' inside a cell escaped.
// Text is plain UTF-8 with two inline marks that both renderers understand: **bold** and `code`
// (Markdown links are kept as written in Markdown and shown literally in HTML).
#include <string>
#include <vector>

namespace sxb::report {

// Text made safe for one Markdown table cell: '|' escaped, line breaks folded to spaces.
std::string markdown_cell_text(const std::string& s);

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each as long as header
};

struct Image {
  std::string path;  // relative to the Markdown file (e.g. "charts/throughput.png")
  std::string alt;
  std::string embedded;   // bytes the HTML page embeds (SVG text or PNG bytes)
  std::string mime_type;  // "image/svg+xml" or "image/png"
};

struct Block {
  enum class Kind { heading, paragraph, bullets, numbered, table, image };
  Kind kind = Kind::paragraph;
  int level = 2;  // heading level (1..4)
  std::string text;
  std::vector<std::string> items;  // bullets, numbered (numbered from 1)
  Table table;
  Image image;
};

struct Document {
  std::string title;
  std::string lang = "en";  // html lang attribute
  std::vector<Block> blocks;

  void heading(int level, std::string text);
  void paragraph(std::string text);
  void bullets(std::vector<std::string> items);
  void numbered(std::vector<std::string> items);
  void table(Table t);
  void image(Image i);
};

std::string render_markdown(const Document& d);
// One HTML page: a table of contents from the level-2 headings, then the blocks.
std::string render_html(const Document& d);

std::string base64_encode(const std::string& bytes);

}  // namespace sxb::report
