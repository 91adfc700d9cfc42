#include "cli/drill_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "cli/drill_report.h"
#include "cli/report_json.h"

namespace meridian::cli {
namespace {

using nlohmann::json;
using report_json::Field;
using report_json::Int;
using report_json::Str;


// Layout (px): the plot area sits inside the margins; the legend is to its right.
constexpr double kWidth = 1000, kHeight = 480;
constexpr double kLeft = 70, kRight = 230, kTop = 84, kBottom = 60;
// Marker labels sit on up to this many rows above the plot, 12 px apart.
constexpr int kLabelRows = 4;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

// Tableau 10: distinguishable, and readable for the common colour blindnesses.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks over span.
double NiceStep(double span, int target) {
  if (span <= 0) return 1;
  const double raw = span / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) return m * magnitude;
  }
  return 10 * magnitude;
}

std::string Num(double v) {
  if (std::fabs(v - std::round(v)) < 1e-9) return fmt::format("{}", static_cast<int64_t>(std::round(v)));
  return fmt::format("{:.1f}", v);
}

struct Marker {
  const char* event;  // data-event
  const char* label;
  const char* colour;
  double seconds;
};

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters are not allowed in XML 1.0 text.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string DrillTimelineSvg(const json& drill) {
  const json& report = Field(Field(drill, "status"), "report");
  const json& timeline = Field(report, "timeline");
  const json& events = Field(report, "events");

  // Series: ready replicas per region at each sample time (seconds). A region a sample
  // does not mention has nothing there then (a region drill's target while failed): 0, so
  // that its line drops and comes back rather than cutting across the gap.
  std::map<std::string, std::vector<std::pair<double, double>>> series;
  double t_max = 0, y_max = 0;
  if (timeline.is_array()) {
    std::set<std::string> regions;
    for (const json& s : timeline) {
      const json& m = Field(s, "readyByRegion");
      if (!m.is_object()) continue;
      for (auto it = m.begin(); it != m.end(); ++it) {
        if (it->is_number()) regions.insert(it.key());
      }
    }
    for (const json& s : timeline) {
      const double t = Field(s, "atMs").is_number() ? Field(s, "atMs").get<double>() / 1000 : 0;
      t_max = std::max(t_max, t);
      const json& desired = Field(s, "desiredByRegion");
      if (desired.is_object()) {
        for (auto it = desired.begin(); it != desired.end(); ++it) {
          if (it->is_number()) y_max = std::max(y_max, it->get<double>());
        }
      }
      const json& ready = Field(s, "readyByRegion");
      for (const std::string& region : regions) {
        const json& v = Field(ready, region.c_str());
        const double n = v.is_number() ? v.get<double>() : 0;
        y_max = std::max(y_max, n);
        series[region].push_back({t, n});
      }
    }
  }
  std::vector<Marker> markers;
  auto add_marker = [&](const char* key, const char* event, const char* label, const char* colour) {
    const json& v = Field(events, key);
    if (!v.is_number()) return;
    markers.push_back({event, label, colour, v.get<double>() / 1000});
    t_max = std::max(t_max, v.get<double>() / 1000);
  };
  if (timeline.is_array() && !timeline.empty()) {
    markers.push_back({"fault-start", "fault start", "#333333", 0});
  }
  add_marker("detectedMs", "detected", "detected", "#7f7f7f");
  add_marker("replacedMs", "replaced", "re-placed", "#1f77b4");
  add_marker("fullyReadyMs", "fully-ready", "fully ready", "#2ca02c");
  add_marker("abortedMs", "aborted", "ABORTED", "#d62728");
  add_marker("restoredMs", "restored", "restored", "#9467bd");
  add_marker("returnedMs", "returned", "returned", "#17becf");

  const double t_step = NiceStep(std::max(t_max, 1.0), 8);
  const double t_end = std::max(t_step, std::ceil(std::max(t_max, 1.0) / t_step) * t_step);
  const double y_step = std::max(1.0, NiceStep(std::max(y_max, 1.0), 5));
  const double y_end = std::max(y_step, std::ceil(std::max(y_max, 1.0) / y_step) * y_step);
  auto x = [&](double t) { return kLeft + kPlotW * t / t_end; };
  auto y = [&](double v) { return kTop + kPlotH * (1 - v / y_end); };

  std::string name = Field(Field(drill, "metadata"), "name").is_string()
                         ? Field(Field(drill, "metadata"), "name").get<std::string>()
                         : "";
  std::string target = Field(report, "target").is_string() ? Field(report, "target").get<std::string>() : "";
  std::string phase = Field(Field(drill, "status"), "phase").is_string()
                          ? Field(Field(drill, "status"), "phase").get<std::string>()
                          : "Pending";

  std::string svg;
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n",
      kWidth, kHeight);
  const std::string title = "Drill " + name + " — " + target + " (" + phase + "): ready replicas per region";
  svg += "<title>" + XmlEscape(title) + "</title>\n";
  svg += fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n", kWidth, kHeight);
  svg += fmt::format("<text class=\"title\" x=\"{}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
                     kLeft, XmlEscape(title));

  // The span the target was failed (fault start to restore) is shaded, so that what
  // follows the restore reads as the return.
  if (const json& restored = Field(events, "restoredMs");
      restored.is_number() && timeline.is_array() && !timeline.empty()) {
    const double end = std::min(restored.get<double>() / 1000, t_end);
    svg += fmt::format(
        "<rect class=\"failed-span\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
        "fill=\"#f2f2f2\"/>\n",
        x(0), kTop, x(end) - x(0), kPlotH);
    svg += fmt::format(
        "<text class=\"span-label\" x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#999999\" font-size=\"11\">"
        "target failed</text>\n",
        x(0) + 4, kTop + 14);
  }

  // Grid and axes.
  svg += "<g class=\"y-axis\">\n";
  for (double v = 0; v <= y_end + 1e-9; v += y_step) {
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>\n",
                       kLeft, y(v), kLeft + kPlotW, y(v));
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", kLeft - 8,
                       y(v) + 4, Num(v));
  }
  svg += fmt::format(
      "<text class=\"axis-title\" x=\"18\" y=\"{:.1f}\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 18 {:.1f})\">ready replicas</text>\n",
      kTop + kPlotH / 2, kTop + kPlotH / 2);
  svg += "</g>\n<g class=\"x-axis\">\n";
  for (double t = 0; t <= t_end + 1e-9; t += t_step) {
    svg += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#999999\"/>\n",
                       x(t), kTop + kPlotH, kTop + kPlotH + 5);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}s</text>\n", x(t),
                       kTop + kPlotH + 20, Num(t));
  }
  svg += fmt::format(
      "<text class=\"axis-title\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">seconds since the "
      "fault started</text>\n",
      kLeft + kPlotW / 2, kHeight - 14);
  svg += "</g>\n";
  svg += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333333\"/>\n", kLeft,
      kTop, kPlotW, kPlotH);

  // Markers. Each label takes the lowest row where it does not overlap an earlier one
  // (widths estimated at 6.5 px a character), so that close events stay legible.
  svg += "<g class=\"markers\">\n";
  std::stable_sort(markers.begin(), markers.end(),
                   [](const Marker& a, const Marker& b) { return a.seconds < b.seconds; });
  std::vector<double> row_end(kLabelRows, -1e9);
  for (size_t i = 0; i < markers.size(); ++i) {
    const Marker& m = markers[i];
    const std::string text = fmt::format("{} {}s", m.label, Num(std::round(m.seconds * 10) / 10));
    const double half = 3.25 * static_cast<double>(text.size());
    int row = 0;
    for (int r = 0; r < kLabelRows; ++r) {
      if (row_end[r] < x(m.seconds) - half) {
        row = r;
        break;
      }
      if (row_end[r] < row_end[row]) row = r;  // all rows taken: the least crowded
    }
    row_end[row] = x(m.seconds) + half + 4;
    const double label_y = kTop - 8 - 12.0 * row;
    svg += fmt::format(
        "<line class=\"marker\" data-event=\"{0}\" x1=\"{1:.1f}\" y1=\"{2:.1f}\" x2=\"{1:.1f}\" "
        "y2=\"{3:.1f}\" stroke=\"{4}\" stroke-width=\"1.5\" stroke-dasharray=\"5,4\"/>\n",
        m.event, x(m.seconds), kTop, kTop + kPlotH, m.colour);
    svg += fmt::format(
        "<text class=\"marker-label\" x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\" text-anchor=\"middle\" "
        "font-size=\"11\">{}</text>\n",
        x(m.seconds), label_y, m.colour, XmlEscape(text));
  }
  svg += "</g>\n";

  // One line per region, and the legend.
  svg += "<g class=\"series-group\">\n";
  size_t colour = 0;
  double legend_y = kTop + 10;
  for (const auto& [region, points] : series) {
    const char* c = kPalette[colour++ % std::size(kPalette)];
    std::string pts;
    for (const auto& [t, v] : points) pts += fmt::format("{:.1f},{:.1f} ", x(t), y(v));
    if (!pts.empty()) pts.pop_back();
    svg += fmt::format(
        "<polyline class=\"series\" data-region=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"2.5\" stroke-linejoin=\"round\"/>\n",
        XmlEscape(region), pts, c);
    svg += fmt::format(
        "<rect class=\"legend\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"14\" height=\"4\" fill=\"{}\"/>\n",
        kLeft + kPlotW + 16, legend_y - 4, c);
    const double last = points.empty() ? 0 : points.back().second;
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{} ({} ready at end)</text>\n",
                       kLeft + kPlotW + 36, legend_y, XmlEscape(region), Num(last));
    legend_y += 20;
  }
  svg += "</g>\n";
  if (series.empty()) {
    svg += fmt::format(
        "<text class=\"note\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#666666\">{}</text>\n",
        kLeft + kPlotW / 2, kTop + kPlotH / 2,
        XmlEscape(Field(report, "mode") == "simulate"
                      ? "simulated drill: no timeline (nothing was changed)"
                      : "no samples yet"));
  }
  svg += "</svg>\n";
  return svg;
}

std::string DrillReportHtml(const nlohmann::json& drill) {
  std::string name;
  if (drill.is_object() && drill.contains("metadata") && drill["metadata"].is_object()) {
    name = drill["metadata"].value("name", "");
  }
  std::string svg = DrillTimelineSvg(drill);
  // Inline SVG in HTML takes no XML declaration.
  if (svg.rfind("<?xml", 0) == 0) svg.erase(0, svg.find("?>") + 2);
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<title>Failover drill " + XmlEscape(name) + "</title>\n";
  out +=
      "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
      "pre{background:#f6f6f6;padding:1em;overflow-x:auto}</style>\n";
  out += "</head>\n<body>\n<h1>Failover drill " + XmlEscape(name) + "</h1>\n";
  out += "<figure class=\"timeline\">" + svg + "</figure>\n";
  out += "<pre class=\"report\">" + XmlEscape(DrillReportText(drill)) + "</pre>\n";
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace meridian::cli
