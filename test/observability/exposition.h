// Reading Prometheus' text exposition in tests: samples by name and label subset, metric
// names, and `promtool check metrics` when promtool is installed.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace meridian::test_metrics {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Parses every sample line (comments skipped). Label values are unescaped for \" and \\.
inline std::vector<Sample> ParseSamples(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = line.find_first_of("{ ");
    s.name = line.substr(0, i);
    if (i != std::string::npos && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        std::string key = line.substr(i, eq - i);
        std::string value;
        size_t j = eq + 2;  // past ="
        while (j < line.size() && line[j] != '"') {
          if (line[j] == '\\' && j + 1 < line.size()) ++j;
          value += line[j++];
        }
        s.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;  // past }
    }
    std::istringstream rest(line.substr(i));
    std::string value;
    rest >> value;
    s.value = value == "+Inf" ? 1e308 : std::strtod(value.c_str(), nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

// The sum of the samples named `name` whose labels include `labels`; -1 when there is none.
inline double Value(const std::string& text, const std::string& name,
                    const std::map<std::string, std::string>& labels = {}) {
  double sum = 0;
  bool found = false;
  for (const Sample& s : ParseSamples(text)) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (!match) continue;
    sum += s.value;
    found = true;
  }
  return found ? sum : -1;
}

// Metric family names (from # TYPE lines), so histograms count once without _bucket etc.
inline std::set<std::string> FamilyNames(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::istringstream words(line.substr(7));
    std::string name;
    words >> name;
    out.insert(name);
  }
  return out;
}

inline bool HavePromtool() { return access("/usr/bin/promtool", X_OK) == 0; }

// `promtool check metrics` on `text`: "" when it passes, else its report.
inline std::string PromtoolCheckMetrics(const std::string& text, const std::string& scratch) {
  std::ofstream(scratch) << text;
  const std::string report = scratch + ".report";
  const int rc =
      std::system(("promtool check metrics < '" + scratch + "' > '" + report + "' 2>&1").c_str());
  std::ifstream in(report);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return rc == 0 ? "" : "promtool exit " + std::to_string(rc) + ": " + out;
}

}  // namespace meridian::test_metrics
