#include "report/doc/document.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace sxb::report {

void Document::heading(int level, std::string text) {
  Block b;
  b.kind = Block::Kind::heading;
  b.level = level;
  b.text = std::move(text);
  blocks.push_back(std::move(b));
}

void Document::paragraph(std::string text) {
  Block b;
  b.kind = Block::Kind::paragraph;
  b.text = std::move(text);
  blocks.push_back(std::move(b));
}

void Document::bullets(std::vector<std::string> items) {
  Block b;
  b.kind = Block::Kind::bullets;
  b.items = std::move(items);
  blocks.push_back(std::move(b));
}

void Document::numbered(std::vector<std::string> items) {
  Block b;
  b.kind = Block::Kind::numbered;
  b.items = std::move(items);
  blocks.push_back(std::move(b));
}

void Document::table(Table t) {
  Block b;
  b.kind = Block::Kind::table;
  b.table = std::move(t);
  blocks.push_back(std::move(b));
}

void Document::image(Image i) {
  Block b;
  b.kind = Block::Kind::image;
  b.image = std::move(i);
  blocks.push_back(std::move(b));
}

std::string base64_encode(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 |
                       uint32_t(uint8_t(in[i + 2]));
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// A pipe would end the cell, a line break the row.
std::string markdown_cell_text(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::string md_cell(const std::string& s) {
  const std::string out = markdown_cell_text(s);
  return out.empty() ? "-" : out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Escapes and turns **bold** and `code` into elements; an unpaired mark stays literal.
std::string html_inline(const std::string& s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 2, "**") == 0) {
      const size_t end = s.find("**", i + 2);
      if (end != std::string::npos) {
        out += "<strong>" + html_inline(s.substr(i + 2, end - i - 2)) + "</strong>";
        i = end + 2;
        continue;
      }
    }
    if (s[i] == '`') {
      const size_t end = s.find('`', i + 1);
      if (end != std::string::npos) {
        out += "<code>" + html_escape(s.substr(i + 1, end - i - 1)) + "</code>";
        i = end + 1;
        continue;
      }
    }
    out += html_escape(std::string(1, s[i]));
    ++i;
  }
  return out;
}

std::string anchor(size_t index) {
  return fmt::format("s{}", index);
}

// Browsers may break CJK text between any two glyphs, so in a table squeezed by one long column
// the short columns shrink to one glyph per line (測/定/値). Headers and short cells therefore
// never wrap (th and td.s: white-space:nowrap); long cells still wrap, so they do not overflow,
// and a table wider than the page scrolls (table: overflow-x:auto).
constexpr size_t kShortCellCodePoints = 16;

// Whether a cell is short enough to keep on one line: at most kShortCellCodePoints code points
// (UTF-8 continuation bytes 10xxxxxx are not counted).
bool short_cell(const std::string& text) {
  size_t n = 0;
  for (unsigned char ch : text) n += (ch & 0xC0) != 0x80;
  return n <= kShortCellCodePoints;
}

constexpr const char* kCss = R"(
body{font-family:"Noto Sans CJK JP","IPAGothic","DejaVu Sans",sans-serif;margin:2em auto;max-width:1200px;padding:0 1.5em;color:#1a1a1a;line-height:1.5;background:#fff}
h1{border-bottom:3px solid #76b900;padding-bottom:.3em}
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em;display:block;overflow-x:auto}
th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eef3e2;white-space:nowrap}
td.s{white-space:nowrap}
tr:nth-child(even) td{background:#fafafa}
code{background:#f2f2f2;padding:0 .2em;border-radius:3px;font-size:.95em}
figure{margin:1.5em 0}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85em;color:#555}
nav{background:#f7f7f7;border:1px solid #ddd;padding:.5em 1.5em;display:inline-block}
)";

}  // namespace

std::string render_markdown(const Document& d) {
  std::string md = "# " + d.title + "\n\n";
  for (const auto& b : d.blocks) {
    switch (b.kind) {
      case Block::Kind::heading:
        md += std::string(static_cast<size_t>(std::clamp(b.level, 1, 4)), '#') + " " + b.text +
              "\n\n";
        break;
      case Block::Kind::paragraph:
        md += b.text + "\n\n";
        break;
      case Block::Kind::bullets:
        for (const auto& i : b.items) md += "- " + i + "\n";
        md += "\n";
        break;
      case Block::Kind::numbered:
        for (size_t i = 0; i < b.items.size(); ++i)
          md += fmt::format("{}. {}\n", i + 1, b.items[i]);
        md += "\n";
        break;
      case Block::Kind::table: {
        md += "|";
        for (const auto& h : b.table.header) md += fmt::format(" {} |", md_cell(h));
        md += "\n|";
        for (size_t i = 0; i < b.table.header.size(); ++i) md += "---|";
        md += "\n";
        for (const auto& row : b.table.rows) {
          md += "|";
          for (const auto& c : row) md += fmt::format(" {} |", md_cell(c));
          md += "\n";
        }
        md += "\n";
        break;
      }
      case Block::Kind::image:
        md += "![" + b.image.alt + "](" + b.image.path + ")\n\n";
        break;
    }
  }
  return md;
}

std::string render_html(const Document& d) {
  std::string body;
  std::string toc;
  for (size_t i = 0; i < d.blocks.size(); ++i) {
    const Block& b = d.blocks[i];
    switch (b.kind) {
      case Block::Kind::heading: {
        const int level = std::clamp(b.level, 1, 4);
        body += fmt::format("<h{0} id=\"{1}\">{2}</h{0}>\n", level, anchor(i), html_inline(b.text));
        if (level == 2)
          toc += fmt::format("<li><a href=\"#{}\">{}</a></li>\n", anchor(i), html_inline(b.text));
        break;
      }
      case Block::Kind::paragraph:
        body += "<p>" + html_inline(b.text) + "</p>\n";
        break;
      case Block::Kind::bullets:
        body += "<ul>\n";
        for (const auto& item : b.items) body += "<li>" + html_inline(item) + "</li>\n";
        body += "</ul>\n";
        break;
      case Block::Kind::numbered:
        body += "<ol>\n";
        for (const auto& item : b.items) body += "<li>" + html_inline(item) + "</li>\n";
        body += "</ol>\n";
        break;
      case Block::Kind::table:
        body += "<table>\n<thead><tr>";
        for (const auto& h : b.table.header) body += "<th>" + html_inline(h) + "</th>";
        body += "</tr></thead>\n<tbody>\n";
        for (const auto& row : b.table.rows) {
          body += "<tr>";
          for (const auto& c : row) {
            body += (short_cell(c) ? "<td class=\"s\">" : "<td>") +
                    html_inline(c.empty() ? "-" : c) + "</td>";
          }
          body += "</tr>\n";
        }
        body += "</tbody>\n</table>\n";
        break;
      case Block::Kind::image:
        // Each chart is its own embedded document, so ids inside one SVG cannot collide with
        // another's.
        body += fmt::format(
            "<figure><img src=\"data:{};base64,{}\" "
            "alt=\"{}\"><figcaption>{}</figcaption></figure>\n",
            b.image.mime_type, base64_encode(b.image.embedded), html_escape(b.image.alt),
            html_inline(b.image.alt));
        break;
    }
  }
  std::string html = "<!DOCTYPE html>\n<html lang=\"" + html_escape(d.lang) + "\">\n<head>\n";
  html +=
      "<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\">\n";
  html += "<title>" + html_escape(d.title) + "</title>\n<style>" + std::string(kCss) + "</style>\n";
  html += "</head>\n<body>\n<h1>" + html_inline(d.title) + "</h1>\n";
  if (!toc.empty()) html += "<nav><ol>\n" + toc + "</ol></nav>\n";
  html += body + "</body>\n</html>\n";
  return html;
}

}  // namespace sxb::report
