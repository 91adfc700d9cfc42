// Reading an evidence entry's time and its data's fields, as the folds over a verified chain do
// (residency/compliance_report.cc, residency/ledger_checkpoint.cc): a missing field or one of
// another type reads as empty, since the chain is verified and a later version may record more.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/clock.h"
#include "residency/ledger.h"

namespace meridian::residency::internal {

// The entry's time (checked when the entry was decoded: malformed reads as the epoch).
inline Timestamp EntryTime(const EvidenceEntry& e) {
  Timestamp t{};
  ParseRfc3339(e.time, &t);
  return t;
}

// data[key] when it is a string, else "".
inline std::string StringField(const nlohmann::json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace meridian::residency::internal
