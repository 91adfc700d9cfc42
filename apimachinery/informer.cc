#include "apimachinery/informer.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>

namespace meridian::apimachinery {

StatusOr<InformerKey> InformerKeyOf(const nlohmann::json& object) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) {
    return InvalidArgumentError("metadata: missing");
  }
  auto name = metadata->find("name");
  if (name == metadata->end() || !name->is_string() || name->get<std::string>().empty()) {
    return InvalidArgumentError("metadata.name: missing");
  }
  InformerKey key;
  key.name = name->get<std::string>();
  auto ns = metadata->find("namespace");
  if (ns != metadata->end() && ns->is_string()) key.ns = ns->get<std::string>();
  return key;
}

int64_t InformerResourceVersionOf(const nlohmann::json& object) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return 0;
  auto rv = metadata->find("resourceVersion");
  if (rv == metadata->end() || !rv->is_string()) return 0;
  const std::string& s = rv->get_ref<const std::string&>();
  int64_t out = 0;
  auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), out);
  return error == std::errc() && end == s.data() + s.size() ? out : 0;
}

std::map<std::string, std::string> InformerLabelsOf(const nlohmann::json& object) {
  std::map<std::string, std::string> out;
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return out;
  auto labels = metadata->find("labels");
  if (labels == metadata->end() || !labels->is_object()) return out;
  for (const auto& [k, v] : labels->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

void WarnInformerSkipped(const std::string& plural, const std::string& name,
                         const std::string& why) {
  spdlog::warn("informer for {}: skipping invalid object {}: {}", plural, name, why);
}

void SharedInformerFactory::AbortWrongType(const std::string& key) {
  spdlog::critical("shared informer {} requested with two different object types", key);
  std::abort();
}

std::vector<std::shared_ptr<InformerBase>> SharedInformerFactory::All() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<InformerBase>> out;
  for (const auto& [key, slot] : informers_) out.push_back(slot.informer);
  return out;
}

StatusOr<std::vector<InformerRegistration>> StartInformers(
    const std::vector<InformerBase*>& informers, const std::function<void()>& on_change,
    const std::string& who) {
  return StartInformers(informers, {}, on_change, who);
}

StatusOr<std::vector<InformerRegistration>> StartInformers(
    const std::vector<InformerBase*>& informers, const std::vector<FilteredInformer>& filtered,
    const std::function<void()>& on_change, const std::string& who) {
  std::vector<InformerRegistration> registrations;
  std::vector<InformerBase*> all = informers;
  for (InformerBase* informer : informers) registrations.push_back(informer->OnChange(on_change));
  for (const FilteredInformer& f : filtered) {
    registrations.push_back(f.register_on_change(on_change));
    all.push_back(f.informer);
  }
  for (InformerBase* informer : all) {
    if (Status st = informer->Start(); !st.ok()) {
      return UnavailableError(who + ": " + st.message());
    }
  }
  return registrations;
}

Status SharedInformerFactory::Start() {
  for (const auto& informer : All()) {
    if (Status st = informer->Start(); !st.ok()) return st;
  }
  return Status::Ok();
}

Status SharedInformerFactory::Relist() {
  for (const auto& informer : All()) {
    if (Status st = informer->Relist(); !st.ok()) return st;
  }
  return Status::Ok();
}

bool SharedInformerFactory::HasSynced() const {
  for (const auto& informer : All()) {
    if (!informer->HasSynced()) return false;
  }
  return true;
}

void SharedInformerFactory::Stop() {
  for (const auto& informer : All()) informer->Stop();
}

}  // namespace meridian::apimachinery
