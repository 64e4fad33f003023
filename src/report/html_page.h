// The pieces every HTML page of the report writers shares: the document head with its inline
// style sheet, sections, tables with escaped cells, and tolerant readers of the free-form stage
// details (a value of an unexpected type reads as absent, so a page never fails on a detail).
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mc::report::html {

/// "<!DOCTYPE html>" ... "<body>" with an <h1>: UTF-8, inline CSS, no external resources.
std::string page_begin(const std::string& title);
std::string page_end();

/// <section id=..><h2>title</h2> body</section>; body is HTML (not escaped), title is text.
std::string section(const std::string& id, const std::string& title, const std::string& body);

/// A table; cells are text and are escaped when rendered. Numeric columns are right-aligned.
struct Table {
  std::string id;
  std::vector<std::string> header;
  std::vector<bool> numeric;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row_class;  // optional, per row: a CSS class ("failed", "skipped")
  std::string render() const;
};

/// Charts side by side, wrapping (a flex row); each element is an inline <svg>.
std::string chart_row(const std::vector<std::string>& charts);

/// details[key] as a number / string / object / array, or absent when missing or of another type.
std::optional<double> number(const nlohmann::json& obj, const std::string& key);
std::optional<std::string> string(const nlohmann::json& obj, const std::string& key);
const nlohmann::json* object(const nlohmann::json& obj, const std::string& key);
const nlohmann::json* array(const nlohmann::json& obj, const std::string& key);

}  // namespace mc::report::html
