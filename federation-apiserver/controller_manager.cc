#include "federation-apiserver/controller_manager.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace meridian::apiserver {
namespace {

std::vector<ControllerDefinition>& Registry() {
  static std::vector<ControllerDefinition> registry;
  return registry;
}

std::string KnownNames() {
  std::string out;
  for (const ControllerDefinition* d : RegisteredControllers()) {
    out += (out.empty() ? "" : ", ") + d->name;
  }
  return out.empty() ? "(none registered)" : out;
}

// The selection --controllers names, without the checks of the controllers it leaves out.
StatusOr<std::vector<const ControllerDefinition*>> ParseControllers(const std::string& flag);

}  // namespace

ControllerRegistration::ControllerRegistration(ControllerDefinition definition) {
  Registry().push_back(std::move(definition));
}

std::vector<const ControllerDefinition*> RegisteredControllers() {
  std::vector<const ControllerDefinition*> out;
  for (const ControllerDefinition& d : Registry()) out.push_back(&d);
  std::sort(out.begin(), out.end(), [](const ControllerDefinition* a, const ControllerDefinition* b) {
    return a->start_order != b->start_order ? a->start_order < b->start_order : a->name < b->name;
  });
  return out;
}

Status FlagsWithoutController(const std::string& controller, const std::vector<std::string>& given) {
  if (given.empty()) return Status::Ok();
  std::string list;
  for (const std::string& g : given) list += (list.empty() ? "" : ", ") + g;
  const bool one = given.size() == 1;
  return InvalidArgumentError(list + " given, but the " + controller +
                              " controller is not selected, so " + (one ? "it" : "they") +
                              " would be ignored; add " + controller + " to --controllers, or drop " +
                              (one ? "the flag" : "the flags"));
}

StatusOr<std::vector<const ControllerDefinition*>> SelectControllers(const std::string& flag) {
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<const ControllerDefinition*> selected,
                            ParseControllers(flag));
  for (const ControllerDefinition* d : RegisteredControllers()) {
    if (!d->check_not_selected ||
        std::find(selected.begin(), selected.end(), d) != selected.end()) {
      continue;
    }
    if (Status st = d->check_not_selected(); !st.ok()) {
      return st.WithContext("--controllers " + (flag.empty() ? std::string("\"\"") : flag));
    }
  }
  return selected;
}

namespace {

StatusOr<std::vector<const ControllerDefinition*>> ParseControllers(const std::string& flag) {
  std::vector<const ControllerDefinition*> all = RegisteredControllers();
  if (flag == "none" || flag.empty()) return std::vector<const ControllerDefinition*>{};
  if (flag == "all") return all;
  bool star = false;
  std::set<std::string> on, off;
  std::stringstream in(flag);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "*") {
      star = true;
      continue;
    }
    bool negated = !item.empty() && item[0] == '-';
    std::string name = negated ? item.substr(1) : item;
    bool known = std::any_of(all.begin(), all.end(),
                             [&](const ControllerDefinition* d) { return d->name == name; });
    if (!known) {
      return InvalidArgumentError("--controllers: unknown controller \"" + name +
                                  "\"; known: " + KnownNames() + " (or all, none, *, -name)");
    }
    (negated ? off : on).insert(name);
  }
  std::vector<const ControllerDefinition*> selected;
  for (const ControllerDefinition* d : all) {
    if (off.count(d->name)) continue;
    if (star || on.count(d->name)) selected.push_back(d);
  }
  return selected;
}

}  // namespace

Status ControllerManager::StartAll(const std::vector<const ControllerDefinition*>& selected,
                                   ControllerContext& context) {
  for (const ControllerDefinition* d : selected) {
    StatusOr<std::unique_ptr<RunningController>> started = d->start(context);
    if (!started.ok()) {
      StopAll();
      return started.status().WithContext("starting controller " + d->name);
    }
    running_.push_back(std::move(started).value());
    names_.push_back(d->name);
  }
  return Status::Ok();
}

void ControllerManager::StopAll() {
  while (!running_.empty()) {
    running_.back()->Stop();
    running_.pop_back();
    names_.pop_back();
  }
}

}  // namespace meridian::apiserver
