// Shared HTML page pieces: head and style sheet, sections, tables, detail readers.
#include "report/html_page.h"

#include <sstream>

#include "report/svg.h"

namespace mc::report::html {

using nlohmann::json;

std::string page_begin(const std::string& title) {
  std::ostringstream s;
  s << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    << "<title>" << svg::escape(title) << "</title>\n<style>\n"
    << "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1400px}\n"
    << "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}\n"
    << "table{border-collapse:collapse;font-size:13px;margin:.5em 0}\n"
    << "th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}\n"
    << "th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    << "tr.failed td{background:#fde8e8}tr.skipped td{color:#888}\n"
    << "div.table{overflow-x:auto;max-width:100%}\n"
    << ".charts{display:flex;flex-wrap:wrap;gap:12px}.charts>div{overflow-x:auto;max-width:100%}\n"
    << "svg.chart{background:#fff;border:1px solid #eee}\n"
    << "pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:12px}\n"
    << ".note{color:#555;font-size:13px}\n"
    << "</style>\n</head>\n<body>\n<h1>" << svg::escape(title) << "</h1>\n";
  return s.str();
}

std::string page_end() { return "</body>\n</html>\n"; }

std::string section(const std::string& id, const std::string& title, const std::string& body) {
  return "<section id=\"" + svg::escape(id) + "\">\n<h2>" + svg::escape(title) + "</h2>\n" + body + "</section>\n";
}

std::string Table::render() const {
  std::ostringstream s;
  s << "<div class=\"table\"><table" << (id.empty() ? "" : " id=\"" + svg::escape(id) + "\"") << ">\n<thead><tr>";
  for (const std::string& h : header) s << "<th>" << svg::escape(h) << "</th>";
  s << "</tr></thead>\n<tbody>\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    const std::string cls = r < row_class.size() ? row_class[r] : "";
    s << (cls.empty() ? "<tr>" : "<tr class=\"" + svg::escape(cls) + "\">");
    for (size_t c = 0; c < header.size(); ++c) {
      const bool num = c < numeric.size() && numeric[c];
      s << (num ? "<td class=\"num\">" : "<td>") << svg::escape(c < row.size() ? row[c] : "") << "</td>";
    }
    s << "</tr>\n";
  }
  s << "</tbody>\n</table></div>\n";
  return s.str();
}

std::string chart_row(const std::vector<std::string>& charts) {
  if (charts.empty()) return "";
  std::string out = "<div class=\"charts\">\n";
  for (const std::string& c : charts) out += "<div>\n" + c + "</div>\n";
  return out + "</div>\n";
}

std::optional<double> number(const json& obj, const std::string& key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::optional<std::string> string(const json& obj, const std::string& key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

const json* object(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? &*it : nullptr;
}

const json* array(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_array() ? &*it : nullptr;
}

}  // namespace mc::report::html
