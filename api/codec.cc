#include "api/codec.h"

#include <cctype>

#include "api/evidence.h"
#include "api/placement_policy.h"
#include "api/resource_interpreter.h"
#include "api/retained_paths.h"
#include "common/json_decoder.h"
#include "placement/policy_json.h"

namespace meridian::api {
namespace {

using nlohmann::json;

// ---- metadata and conditions ----

void DecodeTypeMeta(JsonDecoder& d, const json& j, const char* kind) {
  const json* api_version = JsonDecoder::Member(j, "apiVersion");
  if (!api_version) {
    d.Error("apiVersion", "required");
  } else if (auto v = d.String(*api_version, "apiVersion", true); v && *v != kApiVersion) {
    d.Error("apiVersion", "must be " + std::string(kApiVersion));
  }
  const json* k = JsonDecoder::Member(j, "kind");
  if (!k) {
    d.Error("kind", "required");
  } else if (auto v = d.String(*k, "kind", true); v && *v != kind) {
    d.Error("kind", "must be " + std::string(kind));
  }
}

std::vector<Condition> DecodeConditions(JsonDecoder& d, const json& j, const std::string& path) {
  std::vector<Condition> out;
  if (!j.is_array()) {
    d.Error(path, "must be a list");
    return out;
  }
  for (size_t i = 0; i < j.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    if (!d.ExpectObject(j[i], p)) continue;
    d.RejectUnknown(j[i], p,
                    {"type", "status", "reason", "message", "lastTransitionTime",
                     "observedGeneration"});
    Condition c;
    if (const json* v = JsonDecoder::Member(j[i], "type")) {
      c.type = d.String(*v, p + ".type", true).value_or("");
    } else {
      d.Error(p + ".type", "required");
    }
    if (const json* v = JsonDecoder::Member(j[i], "status")) {
      c.status = d.Enum(*v, p + ".status", {"True", "False", "Unknown"}).value_or("");
    } else {
      d.Error(p + ".status", "required");
    }
    if (const json* v = JsonDecoder::Member(j[i], "reason")) {
      c.reason = d.String(*v, p + ".reason", false).value_or("");
    }
    if (const json* v = JsonDecoder::Member(j[i], "message")) {
      c.message = d.String(*v, p + ".message", false).value_or("");
    }
    if (const json* v = JsonDecoder::Member(j[i], "lastTransitionTime")) {
      c.last_transition_time = d.String(*v, p + ".lastTransitionTime", false).value_or("");
    }
    if (const json* v = JsonDecoder::Member(j[i], "observedGeneration")) {
      c.observed_generation = d.Int(*v, p + ".observedGeneration", 0).value_or(0);
    }
    out.push_back(std::move(c));
  }
  return out;
}

json EncodeConditions(const std::vector<Condition>& conditions) {
  json arr = json::array();
  for (const Condition& c : conditions) {
    json o = {{"type", c.type}, {"status", c.status}};
    if (!c.reason.empty()) o["reason"] = c.reason;
    if (!c.message.empty()) o["message"] = c.message;
    if (!c.last_transition_time.empty()) o["lastTransitionTime"] = c.last_transition_time;
    if (c.observed_generation) o["observedGeneration"] = c.observed_generation;
    arr.push_back(std::move(o));
  }
  return arr;
}

void PutIf(json& o, const char* key, const std::string& v) {
  if (!v.empty()) o[key] = v;
}

// Reads optional string member `name` of `j` into *out.
void OptString(JsonDecoder& d, const json& j, const char* name, const std::string& path,
               std::string* out, bool non_empty = false) {
  if (const json* v = JsonDecoder::Member(j, name)) {
    if (auto s = d.String(*v, JoinPath(path, name), non_empty)) *out = *s;
  }
}

void RequiredString(JsonDecoder& d, const json& j, const char* name, const std::string& path,
                    std::string* out) {
  if (const json* v = JsonDecoder::Member(j, name)) {
    if (auto s = d.String(*v, JoinPath(path, name), true)) *out = *s;
  } else {
    d.Error(JoinPath(path, name), "required");
  }
}

// Decodes the top-level object: apiVersion/kind, metadata, and hands spec/status to callbacks.
template <typename SpecFn, typename StatusFn>
ObjectMeta DecodeEnvelope(const json& j, const char* kind, bool namespaced, bool has_status,
                          FieldErrors* errors, SpecFn decode_spec, StatusFn decode_status) {
  JsonDecoder d(errors);
  ObjectMeta meta;
  if (!j.is_object()) {
    d.Error("", "must be a JSON object");
    return meta;
  }
  if (has_status) {
    d.RejectUnknown(j, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  } else {
    d.RejectUnknown(j, "", {"apiVersion", "kind", "metadata", "spec"});
  }
  DecodeTypeMeta(d, j, kind);
  if (const json* m = JsonDecoder::Member(j, "metadata")) {
    meta = DecodeObjectMeta(*m, "metadata", errors);
  } else {
    d.Error("metadata", "required");
  }
  if (!namespaced && !meta.ns.empty()) {
    d.Error("metadata.namespace", std::string(kind) + " is cluster-scoped and takes no namespace");
  }
  const json* spec = JsonDecoder::Member(j, "spec");
  if (!spec) {
    d.Error("spec", "required");
  } else if (d.ExpectObject(*spec, "spec")) {
    decode_spec(d, *spec);
  }
  if (has_status) {
    if (const json* st = JsonDecoder::Member(j, "status"); st && d.ExpectObject(*st, "status")) {
      decode_status(d, *st);
    }
  }
  return meta;
}

json Envelope(const char* kind, const ObjectMeta& meta) {
  return {{"apiVersion", kApiVersion}, {"kind", kind}, {"metadata", EncodeObjectMeta(meta)}};
}

bool IsDns1123Char(char c) { return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-'; }

// ---- MemberCluster ----

void DecodeMemberClusterSpec(JsonDecoder& d, const json& s, MemberClusterSpec* out) {
  d.RejectUnknown(s, "spec",
                  {"server", "credentialsRef", "region", "zones", "jurisdiction", "capacity",
                   "insecureSkipTLSVerify"});
  RequiredString(d, s, "server", "spec", &out->server);
  if (!out->server.empty() && out->server.rfind("http://", 0) != 0 &&
      out->server.rfind("https://", 0) != 0) {
    d.Error("spec.server", "must be an http:// or https:// URL");
  }
  if (const json* c = JsonDecoder::Member(s, "credentialsRef");
      c && d.ExpectObject(*c, "spec.credentialsRef")) {
    d.RejectUnknown(*c, "spec.credentialsRef", {"name", "namespace"});
    RequiredString(d, *c, "name", "spec.credentialsRef", &out->credentials_ref.name);
    OptString(d, *c, "namespace", "spec.credentialsRef", &out->credentials_ref.ns, true);
  }
  RequiredString(d, s, "region", "spec", &out->region);
  if (const json* z = JsonDecoder::Member(s, "zones")) {
    out->zones = d.StringList(*z, "spec.zones");
  }
  RequiredString(d, s, "jurisdiction", "spec", &out->jurisdiction);
  if (const json* c = JsonDecoder::Member(s, "capacity"); c && d.ExpectObject(*c, "spec.capacity")) {
    d.RejectUnknown(*c, "spec.capacity", {"replicas"});
    if (const json* r = JsonDecoder::Member(*c, "replicas")) {
      out->capacity_replicas = d.Int(*r, "spec.capacity.replicas", 0);
    }
  }
  if (const json* v = JsonDecoder::Member(s, "insecureSkipTLSVerify")) {
    out->insecure_skip_tls_verify = d.Bool(*v, "spec.insecureSkipTLSVerify").value_or(false);
  }
}

void DecodeMemberClusterStatus(JsonDecoder& d, const json& s, MemberClusterStatus* out) {
  d.RejectUnknown(s, "status",
                  {"conditions", "zones", "allocatable", "lastProbeTime", "probeLatencyMs",
                   "kubernetesVersion", "workloadSummary"});
  if (const json* c = JsonDecoder::Member(s, "conditions")) {
    out->conditions = DecodeConditions(d, *c, "status.conditions");
  }
  if (const json* z = JsonDecoder::Member(s, "zones")) {
    if (!z->is_array()) {
      d.Error("status.zones", "must be a list");
    } else {
      for (size_t i = 0; i < z->size(); ++i) {
        std::string p = "status.zones[" + std::to_string(i) + "]";
        const json& item = (*z)[i];
        if (!d.ExpectObject(item, p)) continue;
        d.RejectUnknown(
            item, p,
            {"name", "healthy", "allocatableReplicas", "lastTransitionTime", "replicasByPodShape"});
        ZoneStatus zs;
        RequiredString(d, item, "name", p, &zs.name);
        if (const json* h = JsonDecoder::Member(item, "healthy")) {
          zs.healthy = d.Bool(*h, p + ".healthy").value_or(true);
        }
        if (const json* a = JsonDecoder::Member(item, "allocatableReplicas")) {
          zs.allocatable_replicas = d.Int(*a, p + ".allocatableReplicas", 0);
        }
        OptString(d, item, "lastTransitionTime", p, &zs.last_transition_time);
        if (const json* shapes = JsonDecoder::Member(item, "replicasByPodShape");
            shapes && d.ExpectObject(*shapes, p + ".replicasByPodShape")) {
          for (const auto& [shape, n] : shapes->items()) {
            zs.replicas_by_pod_shape[shape] =
                d.Int(n, p + ".replicasByPodShape." + shape, 0).value_or(0);
          }
        }
        out->zones.push_back(std::move(zs));
      }
    }
  }
  if (const json* a = JsonDecoder::Member(s, "allocatable");
      a && d.ExpectObject(*a, "status.allocatable")) {
    d.RejectUnknown(*a, "status.allocatable", {"replicas"});
    if (const json* r = JsonDecoder::Member(*a, "replicas")) {
      out->allocatable_replicas = d.Int(*r, "status.allocatable.replicas", 0);
    }
  }
  OptString(d, s, "lastProbeTime", "status", &out->last_probe_time);
  if (const json* v = JsonDecoder::Member(s, "probeLatencyMs")) {
    out->probe_latency_ms = d.Int(*v, "status.probeLatencyMs", 0);
  }
  OptString(d, s, "kubernetesVersion", "status", &out->kubernetes_version);
  if (const json* w = JsonDecoder::Member(s, "workloadSummary");
      w && d.ExpectObject(*w, "status.workloadSummary")) {
    d.RejectUnknown(*w, "status.workloadSummary",
                    {"workloads", "desiredReplicas", "readyReplicas"});
    MemberWorkloadSummary summary;
    auto count = [&](const char* field, int64_t* out_count) {
      if (const json* v = JsonDecoder::Member(*w, field)) {
        *out_count = d.Int(*v, std::string("status.workloadSummary.") + field, 0).value_or(0);
      }
    };
    count("workloads", &summary.workloads);
    count("desiredReplicas", &summary.desired_replicas);
    count("readyReplicas", &summary.ready_replicas);
    out->workload_summary = summary;
  }
}

// ---- FederatedWorkload ----

void DecodeTemplate(JsonDecoder& d, const json& t, json* out) {
  *out = t;
  if (!d.ExpectObject(t, "spec.template")) return;
  for (const char* field : {"apiVersion", "kind"}) {
    const json* v = JsonDecoder::Member(t, field);
    if (!v) {
      d.Error(std::string("spec.template.") + field, "required");
    } else {
      d.String(*v, std::string("spec.template.") + field, true);
    }
  }
  if (const json* m = JsonDecoder::Member(t, "metadata"); m && d.ExpectObject(*m, "spec.template.metadata")) {
    if (const json* ns = JsonDecoder::Member(*m, "namespace")) {
      d.String(*ns, "spec.template.metadata.namespace", false);
    }
  }
  if (const json* spec = JsonDecoder::Member(t, "spec"); spec && spec->is_object()) {
    if (const json* r = JsonDecoder::Member(*spec, "replicas")) {
      d.Int(*r, "spec.template.spec.replicas", 0, 1'000'000);
    }
  }
}

void DecodeWorkloadSpec(JsonDecoder& d, const json& s, FieldErrors* errors,
                        FederatedWorkloadSpec* out) {
  d.RejectUnknown(s, "spec",
                  {"template", "placement", "overrides", "dns", "adoptExisting", "retainedPaths",
                   "rollout", "revisionHistoryLimit"});
  if (const json* r = JsonDecoder::Member(s, "rollout")) {
    out->rollout = DecodeWorkloadRolloutSpec(*r, "spec.rollout", errors);
  }
  if (const json* v = JsonDecoder::Member(s, "revisionHistoryLimit")) {
    out->revision_history_limit = d.Int32(*v, "spec.revisionHistoryLimit", 1, 100).value_or(10);
  }
  if (const json* t = JsonDecoder::Member(s, "template")) {
    DecodeTemplate(d, *t, &out->template_);
  } else {
    d.Error("spec.template", "required");
  }
  if (const json* p = JsonDecoder::Member(s, "placement")) {
    FieldErrors placement_errors;
    out->placement = placement::DecodePlacementPolicy(*p, &placement_errors);
    AppendWithPrefix("spec.placement", placement_errors, errors);
  }
  if (const json* o = JsonDecoder::Member(s, "overrides")) {
    if (!o->is_array()) {
      d.Error("spec.overrides", "must be a list");
    } else {
      for (size_t i = 0; i < o->size(); ++i) {
        std::string p = "spec.overrides[" + std::to_string(i) + "]";
        if (!d.ExpectObject((*o)[i], p)) continue;
        d.RejectUnknown((*o)[i], p, {"clusterSelector", "patches"});
        Override ov;
        if (const json* sel = JsonDecoder::Member((*o)[i], "clusterSelector")) {
          FieldErrors sel_errors;
          ov.cluster_selector = apimachinery::DecodeLabelSelector(*sel, &sel_errors);
          AppendWithPrefix(p + ".clusterSelector", sel_errors, errors);
        }
        const json* patches = JsonDecoder::Member((*o)[i], "patches");
        if (!patches) {
          d.Error(p + ".patches", "required");
        } else if (!patches->is_array()) {
          d.Error(p + ".patches", "must be a list of RFC 6902 operations");
        } else {
          for (size_t k = 0; k < patches->size(); ++k) {
            std::string pp = p + ".patches[" + std::to_string(k) + "]";
            const json& op = (*patches)[k];
            if (!d.ExpectObject(op, pp)) continue;
            d.RejectUnknown(op, pp, {"op", "path", "value", "from"});
            std::string kind;
            if (const json* v = JsonDecoder::Member(op, "op")) {
              kind = d.Enum(*v, pp + ".op", {"add", "remove", "replace", "move", "copy", "test"})
                         .value_or("");
            } else {
              d.Error(pp + ".op", "required");
            }
            const json* path = JsonDecoder::Member(op, "path");
            if (!path) {
              d.Error(pp + ".path", "required");
            } else if (auto s2 = d.String(*path, pp + ".path", false);
                       s2 && !s2->empty() && (*s2)[0] != '/') {
              d.Error(pp + ".path", "must be a JSON pointer starting with /");
            }
            if ((kind == "add" || kind == "replace" || kind == "test") && !op.contains("value")) {
              d.Error(pp + ".value", "required for op " + kind);
            }
            if ((kind == "move" || kind == "copy") && !JsonDecoder::Member(op, "from")) {
              d.Error(pp + ".from", "required for op " + kind);
            }
          }
          ov.patches = *patches;
        }
        out->overrides.push_back(std::move(ov));
      }
    }
  }
  if (const json* dns = JsonDecoder::Member(s, "dns"); dns && d.ExpectObject(*dns, "spec.dns")) {
    d.RejectUnknown(*dns, "spec.dns", {"name", "strategy", "ttl", "port", "failoverOrder"});
    DnsSpec ds;
    RequiredString(d, *dns, "name", "spec.dns", &ds.name);
    if (!ds.name.empty()) {
      std::string trimmed = ds.name.back() == '.' ? ds.name.substr(0, ds.name.size() - 1) : ds.name;
      std::string why = ValidateDns1123Subdomain(trimmed);
      if (!why.empty() || trimmed.find('.') == std::string::npos) {
        d.Error("spec.dns.name", "must be a fully qualified domain name");
      }
    }
    if (const json* v = JsonDecoder::Member(*dns, "strategy")) {
      ds.strategy = d.Enum(*v, "spec.dns.strategy", {"geo", "weighted", "failover"}).value_or("");
    }
    if (const json* v = JsonDecoder::Member(*dns, "ttl")) {
      ds.ttl = d.Int32(*v, "spec.dns.ttl", 0, 86400).value_or(30);
    }
    if (const json* v = JsonDecoder::Member(*dns, "port")) {
      ds.port = d.Int32(*v, "spec.dns.port", 1, 65535).value_or(80);
    }
    if (const json* v = JsonDecoder::Member(*dns, "failoverOrder")) {
      ds.failover_order = d.StringList(*v, "spec.dns.failoverOrder");
    }
    out->dns = std::move(ds);
  }
  if (const json* v = JsonDecoder::Member(s, "adoptExisting")) {
    out->adopt_existing = d.Bool(*v, "spec.adoptExisting").value_or(false);
  }
  if (const json* v = JsonDecoder::Member(s, "retainedPaths")) {
    if (v->is_array() && v->size() > kMaxRetainedPaths) {
      d.Error("spec.retainedPaths", "at most " + std::to_string(kMaxRetainedPaths) +
                                        " paths, not " + std::to_string(v->size()));
    } else {
      out->retained_paths = d.StringList(*v, "spec.retainedPaths");
      std::vector<std::string> tokens;
      for (size_t i = 0; i < v->size() && v->is_array(); ++i) {
        if (!(*v)[i].is_string()) continue;  // StringList said so
        const std::string path = (*v)[i].get<std::string>();
        if (std::string why = ParseRetainedPath(path, &tokens); !why.empty()) {
          d.Error("spec.retainedPaths[" + std::to_string(i) + "]", "\"" + path + "\": " + why);
        }
      }
    }
  }
}

void DecodeWorkloadStatus(JsonDecoder& d, const json& s, FederatedWorkloadStatus* out) {
  d.RejectUnknown(
      s, "status",
      {"observedGeneration", "placement", "retained", "unplacedReplicas", "clusters",
       "readyReplicas", "desiredReplicas", "conditions", "explanation", "revisions", "rollout"});
  if (const json* r = JsonDecoder::Member(s, "revisions")) {
    FieldErrors revision_errors;
    out->revisions = DecodeRevisions(*r, "status.revisions", &revision_errors);
    for (FieldError& e : revision_errors) d.Error(e.path, e.message);
  }
  if (const json* r = JsonDecoder::Member(s, "rollout")) {
    FieldErrors rollout_errors;
    out->rollout = DecodeRolloutStatus(*r, "status.rollout", &rollout_errors);
    for (FieldError& e : rollout_errors) d.Error(e.path, e.message);
  }
  if (const json* e = JsonDecoder::Member(s, "explanation");
      e && d.ExpectObject(*e, "status.explanation")) {
    d.RejectUnknown(*e, "status.explanation", {"clusters", "notPlaced", "overflow", "omitted"});
    if (const json* cl = JsonDecoder::Member(*e, "clusters")) {
      if (!cl->is_array()) {
        d.Error("status.explanation.clusters", "must be a list");
      } else {
        for (size_t i = 0; i < cl->size(); ++i) {
          const std::string p = "status.explanation.clusters[" + std::to_string(i) + "]";
          const json& item = (*cl)[i];
          if (!d.ExpectObject(item, p)) continue;
          d.RejectUnknown(item, p, {"cluster", "replicas", "reason", "message"});
          ClusterDecision c;
          RequiredString(d, item, "cluster", p, &c.cluster);
          if (const json* r = JsonDecoder::Member(item, "replicas")) {
            c.replicas = d.Int(*r, p + ".replicas", 0).value_or(0);
          }
          OptString(d, item, "reason", p, &c.reason);
          OptString(d, item, "message", p, &c.message);
          out->explanation.clusters.push_back(std::move(c));
        }
      }
    }
    if (const json* groups = JsonDecoder::Member(*e, "notPlaced")) {
      if (!groups->is_array()) {
        d.Error("status.explanation.notPlaced", "must be a list");
      } else {
        for (size_t i = 0; i < groups->size(); ++i) {
          const std::string p = "status.explanation.notPlaced[" + std::to_string(i) + "]";
          const json& item = (*groups)[i];
          if (!d.ExpectObject(item, p)) continue;
          d.RejectUnknown(item, p, {"reason", "message", "clusters"});
          ClusterDecisionGroup g;
          OptString(d, item, "reason", p, &g.reason);
          OptString(d, item, "message", p, &g.message);
          if (const json* names = JsonDecoder::Member(item, "clusters")) {
            if (!names->is_array()) {
              d.Error(p + ".clusters", "must be a list of strings");
            } else {
              for (size_t k = 0; k < names->size(); ++k) {
                if (auto name = d.String((*names)[k], p + ".clusters[" + std::to_string(k) + "]",
                                         false)) {
                  g.clusters.push_back(*name);
                }
              }
            }
          }
          out->explanation.not_placed.push_back(std::move(g));
        }
      }
    }
    if (const json* o = JsonDecoder::Member(*e, "overflow")) {
      if (!o->is_array()) {
        d.Error("status.explanation.overflow", "must be a list of strings");
      } else {
        for (size_t i = 0; i < o->size(); ++i) {
          if (auto line = d.String(
                  (*o)[i], "status.explanation.overflow[" + std::to_string(i) + "]", false)) {
            out->explanation.overflow.push_back(*line);
          }
        }
      }
    }
    if (const json* n = JsonDecoder::Member(*e, "omitted")) {
      out->explanation.omitted = d.Int(*n, "status.explanation.omitted", 0).value_or(0);
    }
  }
  if (const json* v = JsonDecoder::Member(s, "observedGeneration")) {
    out->observed_generation = d.Int(*v, "status.observedGeneration", 0).value_or(0);
  }
  if (const json* v = JsonDecoder::Member(s, "unplacedReplicas")) {
    out->unplaced_replicas = d.Int(*v, "status.unplacedReplicas", 0).value_or(0);
  }
  if (const json* v = JsonDecoder::Member(s, "readyReplicas")) {
    out->ready_replicas = d.Int(*v, "status.readyReplicas", 0).value_or(0);
  }
  if (const json* v = JsonDecoder::Member(s, "desiredReplicas")) {
    out->desired_replicas = d.Int(*v, "status.desiredReplicas", 0).value_or(0);
  }
  // status.placement and status.retained: lists of per-cluster lines.
  auto decode_lines = [&](const char* field, std::vector<ClusterPlacement>* lines) {
    const json* pl = JsonDecoder::Member(s, field);
    if (!pl) return;
    const std::string path = std::string("status.") + field;
    if (!pl->is_array()) {
      d.Error(path, "must be a list");
      return;
    }
    for (size_t i = 0; i < pl->size(); ++i) {
      std::string p = path + "[" + std::to_string(i) + "]";
      const json& item = (*pl)[i];
      if (!d.ExpectObject(item, p)) continue;
      d.RejectUnknown(item, p, {"cluster", "replicas", "zones", "reasons"});
      ClusterPlacement cp;
      RequiredString(d, item, "cluster", p, &cp.cluster);
      if (const json* r = JsonDecoder::Member(item, "replicas")) {
        cp.replicas = d.Int(*r, p + ".replicas", 0).value_or(0);
      }
      if (const json* z = JsonDecoder::Member(item, "zones")) {
        if (!z->is_object()) {
          d.Error(p + ".zones", "must be an object of zone to replicas");
        } else {
          for (auto it = z->begin(); it != z->end(); ++it) {
            if (auto n = d.Int(it.value(), p + ".zones." + it.key(), 0)) cp.zones[it.key()] = *n;
          }
        }
      }
      if (const json* r = JsonDecoder::Member(item, "reasons")) {
        if (!r->is_array()) {
          d.Error(p + ".reasons", "must be a list of strings");
        } else {
          for (size_t k = 0; k < r->size(); ++k) {
            if (auto s2 = d.String((*r)[k], p + ".reasons[" + std::to_string(k) + "]", false)) {
              cp.reasons.push_back(*s2);
            }
          }
        }
      }
      lines->push_back(std::move(cp));
    }
  };
  decode_lines("placement", &out->placement);
  decode_lines("retained", &out->retained);
  if (const json* cl = JsonDecoder::Member(s, "clusters")) {
    if (!cl->is_array()) {
      d.Error("status.clusters", "must be a list");
    } else {
      for (size_t i = 0; i < cl->size(); ++i) {
        std::string p = "status.clusters[" + std::to_string(i) + "]";
        const json& item = (*cl)[i];
        if (!d.ExpectObject(item, p)) continue;
        d.RejectUnknown(item, p,
                        {"cluster", "readyReplicas", "synced", "lastError", "revision",
                         "revisionReady", "restarts"});
        ClusterSyncStatus cs;
        if (const json* r = JsonDecoder::Member(item, "revision")) {
          cs.revision = d.Int(*r, p + ".revision", 0).value_or(0);
        }
        if (const json* r = JsonDecoder::Member(item, "revisionReady")) {
          cs.revision_ready = d.Bool(*r, p + ".revisionReady").value_or(false);
        }
        if (const json* r = JsonDecoder::Member(item, "restarts")) {
          cs.restarts = d.Int(*r, p + ".restarts", 0).value_or(0);
        }
        RequiredString(d, item, "cluster", p, &cs.cluster);
        if (const json* r = JsonDecoder::Member(item, "readyReplicas")) {
          cs.ready_replicas = d.Int(*r, p + ".readyReplicas", 0).value_or(0);
        }
        if (const json* r = JsonDecoder::Member(item, "synced")) {
          cs.synced = d.Bool(*r, p + ".synced").value_or(false);
        }
        OptString(d, item, "lastError", p, &cs.last_error);
        out->clusters.push_back(std::move(cs));
      }
    }
  }
  if (const json* c = JsonDecoder::Member(s, "conditions")) {
    out->conditions = DecodeConditions(d, *c, "status.conditions");
  }
}

}  // namespace

std::string ValidateDns1123Label(const std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 63) return "must be no more than 63 characters";
  for (char c : name) {
    if (!IsDns1123Char(c)) {
      return "must consist of lower case alphanumeric characters or '-' (a DNS-1123 label)";
    }
  }
  if (name.front() == '-' || name.back() == '-') {
    return "must start and end with an alphanumeric character (a DNS-1123 label)";
  }
  return "";
}

std::string ValidateDns1123Subdomain(const std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 253) return "must be no more than 253 characters";
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string label = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!ValidateDns1123Label(label).empty()) {
      return "must be a lowercase RFC 1123 subdomain: lower case alphanumerics, '-' and '.', "
             "starting and ending with an alphanumeric character";
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return "";
}

ObjectMeta DecodeObjectMeta(const json& j, const std::string& path, FieldErrors* errors) {
  JsonDecoder d(errors);
  ObjectMeta m;
  if (!d.ExpectObject(j, path)) return m;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    std::string p = JoinPath(path, k);
    if (v.is_null()) continue;
    if (k == "name") {
      m.name = d.String(v, p, false).value_or("");
    } else if (k == "generateName") {
      m.generate_name = d.String(v, p, false).value_or("");
    } else if (k == "namespace") {
      m.ns = d.String(v, p, false).value_or("");
    } else if (k == "uid") {
      m.uid = d.String(v, p, false).value_or("");
    } else if (k == "resourceVersion") {
      m.resource_version = d.String(v, p, false).value_or("");
    } else if (k == "generation") {
      m.generation = d.Int(v, p, 0).value_or(0);
    } else if (k == "creationTimestamp") {
      m.creation_timestamp = d.String(v, p, false).value_or("");
    } else if (k == "deletionTimestamp") {
      m.deletion_timestamp = d.String(v, p, false).value_or("");
    } else if (k == "labels") {
      m.labels = d.StringMap(v, p);
      for (const auto& [lk, lv] : m.labels) {
        if (auto why = apimachinery::ValidateLabelKey(lk); !why.empty()) d.Error(p + "." + lk, why);
        if (auto why = apimachinery::ValidateLabelValue(lv); !why.empty()) d.Error(p + "." + lk, why);
      }
    } else if (k == "annotations") {
      m.annotations = d.StringMap(v, p);
    } else if (k == "finalizers") {
      m.finalizers = d.StringList(v, p);
    } else {
      m.extra[k] = v;  // ownerReferences, managedFields, ...: kept as written
    }
  }
  if (m.name.empty() && m.generate_name.empty()) {
    d.Error(JoinPath(path, "name"), "required");
  } else if (!m.name.empty()) {
    if (auto why = ValidateDns1123Subdomain(m.name); !why.empty()) d.Error(JoinPath(path, "name"), why);
  }
  if (!m.ns.empty()) {
    if (auto why = ValidateDns1123Label(m.ns); !why.empty()) d.Error(JoinPath(path, "namespace"), why);
  }
  return m;
}

json EncodeObjectMeta(const ObjectMeta& m) {
  json o = m.extra.is_object() ? m.extra : json::object();
  PutIf(o, "name", m.name);
  PutIf(o, "generateName", m.generate_name);
  PutIf(o, "namespace", m.ns);
  PutIf(o, "uid", m.uid);
  PutIf(o, "resourceVersion", m.resource_version);
  if (m.generation) o["generation"] = m.generation;
  PutIf(o, "creationTimestamp", m.creation_timestamp);
  PutIf(o, "deletionTimestamp", m.deletion_timestamp);
  if (!m.labels.empty()) o["labels"] = m.labels;
  if (!m.annotations.empty()) o["annotations"] = m.annotations;
  if (!m.finalizers.empty()) o["finalizers"] = m.finalizers;
  return o;
}

MemberCluster DecodeMemberCluster(const json& j, FieldErrors* errors) {
  MemberCluster o;
  o.metadata = DecodeEnvelope(
      j, "MemberCluster", false, true, errors,
      [&](JsonDecoder& d, const json& s) { DecodeMemberClusterSpec(d, s, &o.spec); },
      [&](JsonDecoder& d, const json& s) { DecodeMemberClusterStatus(d, s, &o.status); });
  return o;
}

json Encode(const MemberCluster& o) {
  json j = Envelope("MemberCluster", o.metadata);
  json spec = {{"server", o.spec.server}, {"region", o.spec.region},
               {"jurisdiction", o.spec.jurisdiction}};
  if (!o.spec.credentials_ref.name.empty()) {
    spec["credentialsRef"] = {{"name", o.spec.credentials_ref.name}};
    PutIf(spec["credentialsRef"], "namespace", o.spec.credentials_ref.ns);
  }
  if (!o.spec.zones.empty()) spec["zones"] = o.spec.zones;
  if (o.spec.capacity_replicas) spec["capacity"] = {{"replicas", *o.spec.capacity_replicas}};
  if (o.spec.insecure_skip_tls_verify) spec["insecureSkipTLSVerify"] = true;
  j["spec"] = std::move(spec);
  json st = json::object();
  if (!o.status.conditions.empty()) st["conditions"] = EncodeConditions(o.status.conditions);
  if (!o.status.zones.empty()) {
    json zones = json::array();
    for (const ZoneStatus& z : o.status.zones) {
      json zj = {{"name", z.name}, {"healthy", z.healthy}};
      if (z.allocatable_replicas) zj["allocatableReplicas"] = *z.allocatable_replicas;
      PutIf(zj, "lastTransitionTime", z.last_transition_time);
      if (!z.replicas_by_pod_shape.empty()) zj["replicasByPodShape"] = z.replicas_by_pod_shape;
      zones.push_back(std::move(zj));
    }
    st["zones"] = std::move(zones);
  }
  if (o.status.allocatable_replicas) st["allocatable"] = {{"replicas", *o.status.allocatable_replicas}};
  PutIf(st, "lastProbeTime", o.status.last_probe_time);
  if (o.status.probe_latency_ms) st["probeLatencyMs"] = *o.status.probe_latency_ms;
  PutIf(st, "kubernetesVersion", o.status.kubernetes_version);
  if (o.status.workload_summary) {
    const MemberWorkloadSummary& w = *o.status.workload_summary;
    st["workloadSummary"] = {{"workloads", w.workloads},
                             {"desiredReplicas", w.desired_replicas},
                             {"readyReplicas", w.ready_replicas}};
  }
  if (!st.empty()) j["status"] = std::move(st);
  return j;
}

FederatedWorkload DecodeFederatedWorkload(const json& j, FieldErrors* errors) {
  FederatedWorkload o;
  o.metadata = DecodeEnvelope(
      j, "FederatedWorkload", true, true, errors,
      [&](JsonDecoder& d, const json& s) { DecodeWorkloadSpec(d, s, errors, &o.spec); },
      [&](JsonDecoder& d, const json& s) { DecodeWorkloadStatus(d, s, &o.status); });
  return o;
}

json Encode(const FederatedWorkload& o) {
  json j = Envelope("FederatedWorkload", o.metadata);
  json spec = {{"template", o.spec.template_}};
  json placement = placement::EncodePlacementPolicy(o.spec.placement);
  if (!placement.empty()) spec["placement"] = std::move(placement);
  if (!o.spec.overrides.empty()) {
    json arr = json::array();
    for (const Override& ov : o.spec.overrides) {
      json oj = {{"patches", ov.patches}};
      if (!ov.cluster_selector.Empty()) {
        oj["clusterSelector"] = apimachinery::EncodeLabelSelector(ov.cluster_selector);
      }
      arr.push_back(std::move(oj));
    }
    spec["overrides"] = std::move(arr);
  }
  if (o.spec.dns) {
    json dj = {{"name", o.spec.dns->name}, {"strategy", o.spec.dns->strategy},
               {"ttl", o.spec.dns->ttl}, {"port", o.spec.dns->port}};
    if (!o.spec.dns->failover_order.empty()) dj["failoverOrder"] = o.spec.dns->failover_order;
    spec["dns"] = std::move(dj);
  }
  if (o.spec.adopt_existing) spec["adoptExisting"] = true;
  if (!o.spec.retained_paths.empty()) spec["retainedPaths"] = o.spec.retained_paths;
  if (o.spec.rollout) spec["rollout"] = EncodeWorkloadRolloutSpec(*o.spec.rollout);
  if (o.spec.revision_history_limit != 10) {
    spec["revisionHistoryLimit"] = o.spec.revision_history_limit;
  }
  j["spec"] = std::move(spec);
  const FederatedWorkloadStatus& s = o.status;
  json st = json::object();
  if (s.observed_generation) st["observedGeneration"] = s.observed_generation;
  auto encode_lines = [&](const char* field, const std::vector<ClusterPlacement>& lines) {
    if (lines.empty()) return;
    json arr = json::array();
    for (const ClusterPlacement& p : lines) {
      json pj = {{"cluster", p.cluster}, {"replicas", p.replicas}};
      if (!p.zones.empty()) pj["zones"] = p.zones;
      if (!p.reasons.empty()) pj["reasons"] = p.reasons;
      arr.push_back(std::move(pj));
    }
    st[field] = std::move(arr);
  };
  encode_lines("placement", s.placement);
  encode_lines("retained", s.retained);
  if (s.unplaced_replicas) st["unplacedReplicas"] = s.unplaced_replicas;
  if (!s.clusters.empty()) {
    json arr = json::array();
    for (const ClusterSyncStatus& c : s.clusters) {
      json cj = {{"cluster", c.cluster}, {"readyReplicas", c.ready_replicas}, {"synced", c.synced}};
      PutIf(cj, "lastError", c.last_error);
      if (c.revision) cj["revision"] = c.revision;
      if (c.revision_ready) cj["revisionReady"] = true;
      if (c.restarts) cj["restarts"] = c.restarts;
      arr.push_back(std::move(cj));
    }
    st["clusters"] = std::move(arr);
  }
  if (s.ready_replicas) st["readyReplicas"] = s.ready_replicas;
  if (s.desired_replicas) st["desiredReplicas"] = s.desired_replicas;
  if (!s.conditions.empty()) st["conditions"] = EncodeConditions(s.conditions);
  if (!s.explanation.clusters.empty() || !s.explanation.not_placed.empty() ||
      !s.explanation.overflow.empty()) {
    json ex = json::object();
    json arr = json::array();
    for (const ClusterDecision& c : s.explanation.clusters) {
      json cj = {{"cluster", c.cluster}, {"replicas", c.replicas}};
      PutIf(cj, "reason", c.reason);
      PutIf(cj, "message", c.message);
      arr.push_back(std::move(cj));
    }
    ex["clusters"] = std::move(arr);
    if (!s.explanation.not_placed.empty()) {
      json groups = json::array();
      for (const ClusterDecisionGroup& g : s.explanation.not_placed) {
        json gj = json::object();
        PutIf(gj, "reason", g.reason);
        PutIf(gj, "message", g.message);
        gj["clusters"] = g.clusters;
        groups.push_back(std::move(gj));
      }
      ex["notPlaced"] = std::move(groups);
    }
    if (!s.explanation.overflow.empty()) ex["overflow"] = s.explanation.overflow;
    if (s.explanation.omitted) ex["omitted"] = s.explanation.omitted;
    st["explanation"] = std::move(ex);
  }
  if (!s.revisions.empty()) st["revisions"] = EncodeRevisions(s.revisions);
  if (s.rollout) st["rollout"] = EncodeRolloutStatus(*s.rollout);
  if (!st.empty()) j["status"] = std::move(st);
  return j;
}

Topology DecodeTopology(const json& j, FieldErrors* errors) {
  Topology o;
  o.metadata = DecodeEnvelope(
      j, "Topology", false, false, errors,
      [&](JsonDecoder&, const json& s) {
        FieldErrors spec_errors;
        o.spec = placement::DecodeTopologySpec(s, &spec_errors);
        AppendWithPrefix("spec", spec_errors, errors);
      },
      [](JsonDecoder&, const json&) {});
  return o;
}

json Encode(const Topology& o) {
  json j = Envelope("Topology", o.metadata);
  j["spec"] = placement::EncodeTopologySpec(o.spec);
  return j;
}

RolloutStrategy DecodeRolloutStrategy(const json& j, FieldErrors* errors) {
  RolloutStrategy o;
  o.metadata = DecodeEnvelope(
      j, "RolloutStrategy", false, false, errors,
      [&](JsonDecoder&, const json& s) { o.spec = DecodeRolloutStrategySpec(s, "spec", errors); },
      [](JsonDecoder&, const json&) {});
  return o;
}

json Encode(const RolloutStrategy& o) {
  json j = Envelope("RolloutStrategy", o.metadata);
  j["spec"] = EncodeRolloutStrategySpec(o.spec);
  return j;
}

ResidencyPolicy DecodeResidencyPolicy(const json& j, FieldErrors* errors) {
  ResidencyPolicy o;
  o.metadata = DecodeEnvelope(
      j, "ResidencyPolicy", false, true, errors,
      [&](JsonDecoder& d, const json& s) {
        d.RejectUnknown(s, "spec",
                        {"namespaces", "workloadSelector", "jurisdictions", "enforcement"});
        if (const json* n = JsonDecoder::Member(s, "namespaces")) {
          o.spec.namespaces = d.StringList(*n, "spec.namespaces");
        }
        if (const json* sel = JsonDecoder::Member(s, "workloadSelector")) {
          FieldErrors sel_errors;
          o.spec.workload_selector = apimachinery::DecodeLabelSelector(*sel, &sel_errors);
          AppendWithPrefix("spec.workloadSelector", sel_errors, errors);
        }
        if (const json* js = JsonDecoder::Member(s, "jurisdictions")) {
          o.spec.jurisdictions = d.StringList(*js, "spec.jurisdictions");
        }
        if (o.spec.jurisdictions.empty()) {
          d.Error("spec.jurisdictions", "must list at least one jurisdiction");
        }
        if (const json* e = JsonDecoder::Member(s, "enforcement")) {
          o.spec.enforcement = d.Enum(*e, "spec.enforcement", {"report", "remove"}).value_or("");
        }
      },
      [&](JsonDecoder& d, const json& s) {
        d.RejectUnknown(s, "status", {"conditions", "violations", "enforced", "unverifiedMembers"});
        if (const json* c = JsonDecoder::Member(s, "conditions")) {
          o.status.conditions = DecodeConditions(d, *c, "status.conditions");
        }
        if (const json* v = JsonDecoder::Member(s, "violations")) {
          o.status.violations = d.Int(*v, "status.violations", 0).value_or(0);
        }
        if (const json* v = JsonDecoder::Member(s, "enforced")) {
          o.status.enforced = d.Int(*v, "status.enforced", 0).value_or(0);
        }
        if (const json* v = JsonDecoder::Member(s, "unverifiedMembers")) {
          o.status.unverified_members = d.Int(*v, "status.unverifiedMembers", 0).value_or(0);
        }
      });
  return o;
}

json Encode(const ResidencyPolicy& o) {
  json j = Envelope("ResidencyPolicy", o.metadata);
  json spec = {{"jurisdictions", o.spec.jurisdictions}};
  if (!o.spec.namespaces.empty()) spec["namespaces"] = o.spec.namespaces;
  if (!o.spec.workload_selector.Empty()) {
    spec["workloadSelector"] = apimachinery::EncodeLabelSelector(o.spec.workload_selector);
  }
  if (o.spec.enforcement != "report") spec["enforcement"] = o.spec.enforcement;
  j["spec"] = std::move(spec);
  if (!o.status.conditions.empty()) {
    j["status"] = {{"conditions", EncodeConditions(o.status.conditions)},
                   {"violations", o.status.violations},
                   {"enforced", o.status.enforced},
                   {"unverifiedMembers", o.status.unverified_members}};
  }
  return j;
}

FailoverDrill DecodeFailoverDrill(const json& j, FieldErrors* errors) {
  FailoverDrill o;
  o.metadata = DecodeEnvelope(
      j, "FailoverDrill", false, true, errors,
      [&](JsonDecoder& d, const json& s) {
        d.RejectUnknown(s, "spec",
                        {"target", "mode", "durationSeconds", "abortConditions", "injectFault",
                         "failure", "observeReturnSeconds", "slo", "schedule", "steps"});
        auto decode_target = [&](const json& t, const std::string& path, DrillTarget* out) {
          if (!d.ExpectObject(t, path)) return;
          d.RejectUnknown(t, path, {"zone", "region", "cluster"});
          OptString(d, t, "zone", path, &out->zone, true);
          OptString(d, t, "region", path, &out->region, true);
          OptString(d, t, "cluster", path, &out->cluster, true);
          int set = !out->zone.empty() + !out->region.empty() + !out->cluster.empty();
          if (set != 1) d.Error(path, "exactly one of zone, region or cluster must be set");
        };
        const json* t = JsonDecoder::Member(s, "target");
        const json* steps = JsonDecoder::Member(s, "steps");
        if (t && steps) {
          d.Error("spec.target", "set either target (with durationSeconds) or steps, not both");
        } else if (t) {
          decode_target(*t, "spec.target", &o.spec.target);
        } else if (!steps) {
          d.Error("spec.target", "required (or spec.steps)");
        }
        if (steps && !steps->is_array()) {
          d.Error("spec.steps", "must be a list");
        } else if (steps) {
          if (steps->empty()) d.Error("spec.steps", "must not be empty");
          for (size_t i = 0; i < steps->size(); ++i) {
            const std::string p = "spec.steps[" + std::to_string(i) + "]";
            const json& item = (*steps)[i];
            if (!d.ExpectObject(item, p)) continue;
            d.RejectUnknown(item, p, {"target", "durationSeconds"});
            DrillStepSpec step;
            if (const json* st = JsonDecoder::Member(item, "target")) {
              decode_target(*st, p + ".target", &step.target);
            } else {
              d.Error(p + ".target", "required");
            }
            if (const json* v = JsonDecoder::Member(item, "durationSeconds")) {
              step.duration_seconds = d.Int(*v, p + ".durationSeconds", 1, 86400).value_or(0);
            } else {
              d.Error(p + ".durationSeconds", "required");
            }
            o.spec.steps.push_back(std::move(step));
          }
        }
        if (const json* sc = JsonDecoder::Member(s, "schedule");
            sc && d.ExpectObject(*sc, "spec.schedule")) {
          d.RejectUnknown(*sc, "spec.schedule", {"cron", "timeZone", "window"});
          DrillSchedule schedule;
          RequiredString(d, *sc, "cron", "spec.schedule", &schedule.cron);
          OptString(d, *sc, "timeZone", "spec.schedule", &schedule.time_zone, true);
          if (const json* w = JsonDecoder::Member(*sc, "window");
              w && d.ExpectObject(*w, "spec.schedule.window")) {
            d.RejectUnknown(*w, "spec.schedule.window", {"start", "end"});
            RequiredString(d, *w, "start", "spec.schedule.window", &schedule.window_start);
            RequiredString(d, *w, "end", "spec.schedule.window", &schedule.window_end);
          }
          o.spec.schedule = std::move(schedule);
        }
        if (const json* m = JsonDecoder::Member(s, "mode")) {
          o.spec.mode = d.Enum(*m, "spec.mode", {"simulate", "live"}).value_or("");
        }
        if (const json* v = JsonDecoder::Member(s, "durationSeconds")) {
          o.spec.duration_seconds = d.Int(*v, "spec.durationSeconds", 1, 86400).value_or(300);
        }
        if (const json* a = JsonDecoder::Member(s, "abortConditions");
            a && d.ExpectObject(*a, "spec.abortConditions")) {
          d.RejectUnknown(
              *a, "spec.abortConditions",
              {"minAvailabilityPercent", "residencyViolation", "dnsAnswersToFailedRegionPercent"});
          if (const json* v = JsonDecoder::Member(*a, "dnsAnswersToFailedRegionPercent")) {
            o.spec.abort_dns_to_failed_percent =
                d.Int32(*v, "spec.abortConditions.dnsAnswersToFailedRegionPercent", 0, 100);
          }
          if (const json* v = JsonDecoder::Member(*a, "residencyViolation")) {
            o.spec.abort_on_residency_violation =
                d.Bool(*v, "spec.abortConditions.residencyViolation").value_or(false);
          }
          if (const json* v = JsonDecoder::Member(*a, "minAvailabilityPercent")) {
            o.spec.abort_below_percent =
                d.Int32(*v, "spec.abortConditions.minAvailabilityPercent", 0, 100);
          }
        }
        const json* inject = JsonDecoder::Member(s, "injectFault");
        if (inject) o.spec.inject_fault = d.Bool(*inject, "spec.injectFault").value_or(false);
        if (const json* v = JsonDecoder::Member(s, "failure")) {
          std::optional<std::string> failure = d.Enum(*v, "spec.failure", {"declared", "injected"});
          if (failure && o.spec.mode != "live") {
            d.Error("spec.failure",
                    "only a live drill fails its target (spec.mode is \"" + o.spec.mode + "\")");
          } else if (failure && inject && inject->is_boolean() &&
                     inject->get<bool>() != (*failure == "injected")) {
            d.Error("spec.failure", "\"" + *failure + "\" contradicts spec.injectFault: " +
                                        (inject->get<bool>() ? "true" : "false"));
          } else if (failure) {
            o.spec.inject_fault = *failure == "injected";
          }
        }
        if (const json* v = JsonDecoder::Member(s, "observeReturnSeconds")) {
          o.spec.observe_return_seconds = d.Int(*v, "spec.observeReturnSeconds", 0, 86400).value_or(600);
        }
        if (const json* slo = JsonDecoder::Member(s, "slo"); slo && d.ExpectObject(*slo, "spec.slo")) {
          d.RejectUnknown(*slo, "spec.slo", {"minAvailabilityPercent"});
          if (const json* v = JsonDecoder::Member(*slo, "minAvailabilityPercent")) {
            o.spec.slo_min_availability_percent =
                d.Int32(*v, "spec.slo.minAvailabilityPercent", 0, 100);
          }
        }
      },
      [&](JsonDecoder& d, const json& s) {
        d.RejectUnknown(s, "status",
                        {"phase", "message", "startTime", "completionTime", "conditions", "report"});
        if (const json* v = JsonDecoder::Member(s, "phase")) {
          o.status.phase =
              d.Enum(*v, "status.phase",
                     {"Pending", "Scheduled", "Running", "Completed", "Aborted", "Failed"})
                  .value_or("");
        }
        OptString(d, s, "message", "status", &o.status.message);
        OptString(d, s, "startTime", "status", &o.status.start_time);
        OptString(d, s, "completionTime", "status", &o.status.completion_time);
        if (const json* c = JsonDecoder::Member(s, "conditions")) {
          o.status.conditions = DecodeConditions(d, *c, "status.conditions");
        }
        if (const json* r = JsonDecoder::Member(s, "report"); r && d.ExpectObject(*r, "status.report")) {
          o.status.report = *r;
        }
      });
  return o;
}

json Encode(const FailoverDrill& o) {
  json j = Envelope("FailoverDrill", o.metadata);
  auto target = [](const DrillTarget& t) {
    json out = json::object();
    PutIf(out, "zone", t.zone);
    PutIf(out, "region", t.region);
    PutIf(out, "cluster", t.cluster);
    return out;
  };
  json spec = {{"mode", o.spec.mode}, {"durationSeconds", o.spec.duration_seconds}};
  if (o.spec.steps.empty()) {
    spec["target"] = target(o.spec.target);
  } else {
    json steps = json::array();
    for (const DrillStepSpec& st : o.spec.steps) {
      steps.push_back({{"target", target(st.target)}, {"durationSeconds", st.duration_seconds}});
    }
    spec["steps"] = std::move(steps);
  }
  if (o.spec.schedule) {
    json sc = {{"cron", o.spec.schedule->cron}, {"timeZone", o.spec.schedule->time_zone}};
    if (!o.spec.schedule->window_start.empty() || !o.spec.schedule->window_end.empty()) {
      sc["window"] = {{"start", o.spec.schedule->window_start},
                      {"end", o.spec.schedule->window_end}};
    }
    spec["schedule"] = std::move(sc);
  }
  if (o.spec.abort_below_percent || o.spec.abort_on_residency_violation ||
      o.spec.abort_dns_to_failed_percent) {
    json a = json::object();
    if (o.spec.abort_dns_to_failed_percent) {
      a["dnsAnswersToFailedRegionPercent"] = *o.spec.abort_dns_to_failed_percent;
    }
    if (o.spec.abort_below_percent) a["minAvailabilityPercent"] = *o.spec.abort_below_percent;
    if (o.spec.abort_on_residency_violation) a["residencyViolation"] = true;
    spec["abortConditions"] = std::move(a);
  }
  if (o.spec.inject_fault) spec["injectFault"] = true;
  if (o.spec.mode == "live") spec["failure"] = o.spec.inject_fault ? "injected" : "declared";
  spec["observeReturnSeconds"] = o.spec.observe_return_seconds;
  if (o.spec.slo_min_availability_percent) {
    spec["slo"] = {{"minAvailabilityPercent", *o.spec.slo_min_availability_percent}};
  }
  j["spec"] = std::move(spec);
  json st = json::object();
  PutIf(st, "phase", o.status.phase);
  PutIf(st, "message", o.status.message);
  PutIf(st, "startTime", o.status.start_time);
  PutIf(st, "completionTime", o.status.completion_time);
  if (!o.status.conditions.empty()) st["conditions"] = EncodeConditions(o.status.conditions);
  if (!o.status.report.empty()) st["report"] = o.status.report;
  if (!st.empty()) j["status"] = std::move(st);
  return j;
}

DnsRecordSet DecodeDnsRecordSet(const json& j, FieldErrors* errors) {
  DnsRecordSet o;
  o.metadata = DecodeEnvelope(
      j, "DNSRecordSet", true, false, errors,
      [&](JsonDecoder& d, const json& s) {
        d.RejectUnknown(s, "spec", {"strategy", "endpoints", "jurisdictions"});
        if (const json* v = JsonDecoder::Member(s, "strategy")) {
          o.spec.strategy =
              d.Enum(*v, "spec.strategy", {"geo", "weighted", "failover", "static"}).value_or("");
        }
        if (const json* v = JsonDecoder::Member(s, "jurisdictions")) {
          o.spec.jurisdictions = d.StringList(*v, "spec.jurisdictions");
        }
        const json* eps = JsonDecoder::Member(s, "endpoints");
        if (!eps) return;
        if (!eps->is_array()) {
          d.Error("spec.endpoints", "must be a list");
          return;
        }
        for (size_t i = 0; i < eps->size(); ++i) {
          std::string p = "spec.endpoints[" + std::to_string(i) + "]";
          const json& e = (*eps)[i];
          if (!d.ExpectObject(e, p)) continue;
          d.RejectUnknown(e, p,
                          {"dnsName", "recordType", "targets", "recordTTL", "setIdentifier",
                           "labels", "region", "jurisdiction", "weight", "priority", "healthy"});
          DnsEndpoint ep;
          RequiredString(d, e, "dnsName", p, &ep.dns_name);
          if (const json* v = JsonDecoder::Member(e, "recordType")) {
            ep.record_type =
                d.Enum(*v, p + ".recordType", {"A", "AAAA", "CNAME", "SRV", "TXT"}).value_or("");
          } else {
            d.Error(p + ".recordType", "required");
          }
          if (const json* v = JsonDecoder::Member(e, "targets")) {
            ep.targets = d.StringList(*v, p + ".targets");
          }
          if (const json* v = JsonDecoder::Member(e, "recordTTL")) {
            ep.record_ttl = d.Int(*v, p + ".recordTTL", 0, 604800).value_or(0);
          }
          OptString(d, e, "setIdentifier", p, &ep.set_identifier);
          if (const json* v = JsonDecoder::Member(e, "labels")) ep.labels = d.StringMap(*v, p + ".labels");
          OptString(d, e, "region", p, &ep.region);
          OptString(d, e, "jurisdiction", p, &ep.jurisdiction);
          if (const json* v = JsonDecoder::Member(e, "weight")) {
            ep.weight = d.Int(*v, p + ".weight", 0).value_or(0);
          }
          if (const json* v = JsonDecoder::Member(e, "priority")) {
            ep.priority = d.Int32(*v, p + ".priority", 0).value_or(0);
          }
          if (const json* v = JsonDecoder::Member(e, "healthy")) {
            ep.healthy = d.Bool(*v, p + ".healthy").value_or(true);
          }
          o.spec.endpoints.push_back(std::move(ep));
        }
      },
      [](JsonDecoder&, const json&) {});
  return o;
}

json Encode(const DnsRecordSet& o) {
  json j = Envelope("DNSRecordSet", o.metadata);
  json eps = json::array();
  for (const DnsEndpoint& e : o.spec.endpoints) {
    json ej = {{"dnsName", e.dns_name}, {"recordType", e.record_type}, {"targets", e.targets}};
    if (e.record_ttl) ej["recordTTL"] = e.record_ttl;
    PutIf(ej, "setIdentifier", e.set_identifier);
    if (!e.labels.empty()) ej["labels"] = e.labels;
    PutIf(ej, "region", e.region);
    PutIf(ej, "jurisdiction", e.jurisdiction);
    if (e.weight) ej["weight"] = e.weight;
    if (e.priority) ej["priority"] = e.priority;
    if (!e.healthy) ej["healthy"] = false;
    eps.push_back(std::move(ej));
  }
  j["spec"] = {{"strategy", o.spec.strategy}, {"endpoints", std::move(eps)}};
  if (o.spec.jurisdictions) j["spec"]["jurisdictions"] = *o.spec.jurisdictions;
  return j;
}

FieldErrors ValidateObject(const json& j) {
  FieldErrors errors;
  std::string kind = j.is_object() && j.contains("kind") && j["kind"].is_string()
                         ? j["kind"].get<std::string>()
                         : "";
  if (kind == "MemberCluster") {
    DecodeMemberCluster(j, &errors);
  } else if (kind == "FederatedWorkload") {
    DecodeFederatedWorkload(j, &errors);
  } else if (kind == "Topology") {
    DecodeTopology(j, &errors);
  } else if (kind == "ResidencyPolicy") {
    DecodeResidencyPolicy(j, &errors);
  } else if (kind == "FailoverDrill") {
    DecodeFailoverDrill(j, &errors);
  } else if (kind == "DNSRecordSet") {
    DecodeDnsRecordSet(j, &errors);
  } else if (kind == "ResidencyEvidence") {
    DecodeResidencyEvidence(j, &errors);
  } else if (kind == "PlacementPolicy") {
    DecodeNamespacedPlacementPolicy(j, &errors);
  } else if (kind == "ClusterPlacementPolicy") {
    DecodeClusterPlacementPolicy(j, &errors);
  } else if (kind == "RolloutStrategy") {
    DecodeRolloutStrategy(j, &errors);
  } else if (kind == "ResourceInterpreter") {
    DecodeResourceInterpreter(j, &errors);
  } else {
    errors.push_back({"kind", kind.empty() ? "required"
                                           : "unknown kind \"" + kind + "\" in group " + kGroup});
  }
  return errors;
}

std::optional<int64_t> TemplateReplicas(const FederatedWorkloadSpec& spec) {
  const json* s = JsonDecoder::Member(spec.template_, "spec");
  if (!s) return std::nullopt;
  const json* r = JsonDecoder::Member(*s, "replicas");
  if (!r || !r->is_number_integer()) return std::nullopt;
  return r->get<int64_t>();
}

}  // namespace meridian::api
