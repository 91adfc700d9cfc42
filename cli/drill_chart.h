// The SVG timeline chart of a drill: ready replicas per region over the drill, one coloured
// line per region, axes with time (seconds since the fault started) and replica labels, and
// dashed vertical markers for fault start, detected, re-placed, fully ready, aborted,
// restored and returned. The timeline goes on past the restore while the drill watches the
// replicas return; the span the target was failed (fault start to restore) is shaded.
// Pure; thread-safe.
//
// The document is standalone SVG 1.1 (well-formed XML, every text escaped). For tests and
// tools, elements carry classes: each region's line is <polyline class="series"
// data-region="R">, each marker <line class="marker" data-event="E">, the shaded span
// <rect class="failed-span">, the axes <g class="x-axis"> / <g class="y-axis"> with one
// <text> per tick.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace meridian::cli {

// Renders `drill` (a FailoverDrill as the API returns it). A drill without timeline samples
// (a simulation, or one that has not started) gets the axes and a note instead of lines.
std::string DrillTimelineSvg(const nlohmann::json& drill);

// "&amp;" etc. for the five XML specials (exposed for tests).
std::string XmlEscape(const std::string& text);

// The report as one self-contained HTML5 page to send around: the text report
// (DrillReportText, escaped) and the timeline chart (DrillTimelineSvg) embedded inline, with
// no script and nothing loaded from elsewhere.
std::string DrillReportHtml(const nlohmann::json& drill);

}  // namespace meridian::cli
