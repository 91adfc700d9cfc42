#include "apimachinery/rest/protobuf_body.h"

#include "common/base64.h"

#include <cstdint>
#include <map>
#include <string_view>

#include "common/clock.h"

namespace meridian::apimachinery::rest {

using nlohmann::json;

namespace {

// A minimal protobuf wire reader.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  bool Varint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return true;
      }
    }
    return false;
  }
  bool Bytes(std::string_view* out) {
    uint64_t n;
    if (!Varint(&n) || n > data_.size() - pos_) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Skip(int wire_type) {
    uint64_t v;
    std::string_view s;
    switch (wire_type) {
      case 0: return Varint(&v);
      case 1: return Advance(8);
      case 2: return Bytes(&s);
      case 5: return Advance(4);
      default: return false;
    }
  }

 private:
  bool Advance(size_t n) {
    if (n > data_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};


enum class Type { kString, kBytes, kInt, kBool, kMessage, kStringMap, kBytesMap, kTime, kIntOrString };
struct Field;
using Schema = std::map<int, Field>;
struct Field {
  std::string name;
  Type type;
  bool repeated = false;
  const Schema* message = nullptr;
};

Status DecodeMessage(std::string_view data, const Schema& schema, json* out);

Status DecodeMapEntry(std::string_view data, bool bytes_value, std::string* key, json* value) {
  Reader r(data);
  *value = "";
  while (!r.done()) {
    uint64_t tag;
    if (!r.Varint(&tag)) return InvalidArgumentError("malformed map entry");
    std::string_view s;
    if ((tag & 7) != 2) {
      if (!r.Skip(static_cast<int>(tag & 7))) return InvalidArgumentError("malformed map entry");
      continue;
    }
    if (!r.Bytes(&s)) return InvalidArgumentError("malformed map entry");
    if ((tag >> 3) == 1) *key = std::string(s);
    if ((tag >> 3) == 2) *value = bytes_value ? Base64StdEncode(s) : std::string(s);
  }
  return Status::Ok();
}

Status DecodeTime(std::string_view data, json* out) {
  Reader r(data);
  int64_t seconds = 0;
  while (!r.done()) {
    uint64_t tag, v;
    if (!r.Varint(&tag)) return InvalidArgumentError("malformed time");
    if ((tag & 7) == 0) {
      if (!r.Varint(&v)) return InvalidArgumentError("malformed time");
      if ((tag >> 3) == 1) seconds = static_cast<int64_t>(v);
    } else if (!r.Skip(static_cast<int>(tag & 7))) {
      return InvalidArgumentError("malformed time");
    }
  }
  *out = FormatRfc3339(Timestamp(std::chrono::seconds(seconds)));
  return Status::Ok();
}

Status DecodeMessage(std::string_view data, const Schema& schema, json* out) {
  if (!out->is_object()) *out = json::object();
  Reader r(data);
  while (!r.done()) {
    uint64_t tag;
    if (!r.Varint(&tag)) return InvalidArgumentError("malformed protobuf field key");
    const int number = static_cast<int>(tag >> 3);
    const int wire = static_cast<int>(tag & 7);
    auto f = schema.find(number);
    if (f == schema.end()) {
      if (!r.Skip(wire)) return InvalidArgumentError("malformed protobuf field");
      continue;
    }
    const Field& field = f->second;
    json value;
    if (wire == 0) {
      uint64_t v;
      if (!r.Varint(&v)) return InvalidArgumentError("malformed varint in " + field.name);
      if (field.type == Type::kBool) {
        value = v != 0;
      } else {
        value = static_cast<int64_t>(v);
      }
    } else if (wire == 2) {
      std::string_view s;
      if (!r.Bytes(&s)) return InvalidArgumentError("malformed bytes in " + field.name);
      switch (field.type) {
        case Type::kString: value = std::string(s); break;
        case Type::kBytes: value = Base64StdEncode(s); break;
        case Type::kMessage:
          MERIDIAN_RETURN_IF_ERROR(DecodeMessage(s, *field.message, &value));
          break;
        case Type::kTime: MERIDIAN_RETURN_IF_ERROR(DecodeTime(s, &value)); break;
        case Type::kIntOrString: {
          static const Schema kIntOrStringSchema = {{1, {"type", Type::kInt}},
                                                    {2, {"intVal", Type::kInt}},
                                                    {3, {"strVal", Type::kString}}};
          json ios;
          MERIDIAN_RETURN_IF_ERROR(DecodeMessage(s, kIntOrStringSchema, &ios));
          if (ios.value("type", int64_t{0}) == 1) {
            value = ios.value("strVal", "");
          } else {
            value = ios.value("intVal", int64_t{0});
          }
          break;
        }
        case Type::kStringMap:
        case Type::kBytesMap: {
          std::string key;
          json v;
          MERIDIAN_RETURN_IF_ERROR(DecodeMapEntry(s, field.type == Type::kBytesMap, &key, &v));
          json& m = (*out)[field.name];
          if (!m.is_object()) m = json::object();
          m[key] = v;
          continue;
        }
        default:
          return InvalidArgumentError("unexpected length-delimited value in " + field.name);
      }
    } else {
      if (!r.Skip(wire)) return InvalidArgumentError("malformed protobuf field");
      continue;
    }
    if (field.repeated) {
      json& list = (*out)[field.name];
      if (!list.is_array()) list = json::array();
      list.push_back(std::move(value));
    } else {
      (*out)[field.name] = std::move(value);
    }
  }
  return Status::Ok();
}

const Schema kTypeMeta = {{1, {"apiVersion", Type::kString}}, {2, {"kind", Type::kString}}};
const Schema kOwnerReference = {
    {1, {"kind", Type::kString}},        {3, {"name", Type::kString}},
    {4, {"uid", Type::kString}},         {5, {"apiVersion", Type::kString}},
    {6, {"controller", Type::kBool}},    {7, {"blockOwnerDeletion", Type::kBool}},
};
const Schema kObjectMeta = {
    {1, {"name", Type::kString}},
    {2, {"generateName", Type::kString}},
    {3, {"namespace", Type::kString}},
    {5, {"uid", Type::kString}},
    {6, {"resourceVersion", Type::kString}},
    {7, {"generation", Type::kInt}},
    {8, {"creationTimestamp", Type::kTime}},
    {11, {"labels", Type::kStringMap}},
    {12, {"annotations", Type::kStringMap}},
    {13, {"ownerReferences", Type::kMessage, true, &kOwnerReference}},
    {14, {"finalizers", Type::kString, true}},
};
const Schema kNamespaceSpec = {{1, {"finalizers", Type::kString, true}}};
const Schema kNamespace = {{1, {"metadata", Type::kMessage, false, &kObjectMeta}},
                           {2, {"spec", Type::kMessage, false, &kNamespaceSpec}}};
const Schema kConfigMap = {{1, {"metadata", Type::kMessage, false, &kObjectMeta}},
                           {2, {"data", Type::kStringMap}},
                           {3, {"binaryData", Type::kBytesMap}},
                           {4, {"immutable", Type::kBool}}};
const Schema kSecret = {{1, {"metadata", Type::kMessage, false, &kObjectMeta}},
                        {2, {"data", Type::kBytesMap}},
                        {3, {"type", Type::kString}},
                        {4, {"immutable", Type::kBool}},
                        {5, {"stringData", Type::kStringMap}}};
const Schema kLocalObjectReference = {{1, {"name", Type::kString}}};
const Schema kServiceAccount = {
    {1, {"metadata", Type::kMessage, false, &kObjectMeta}},
    {3, {"imagePullSecrets", Type::kMessage, true, &kLocalObjectReference}},
    {4, {"automountServiceAccountToken", Type::kBool}}};

// Workload kinds from `kubectl create deployment`, `kubectl run`, `kubectl create service`
// and `kubectl expose`: the commonly set fields only (others are skipped, not guessed).
const Schema kLabelSelectorRequirement = {{1, {"key", Type::kString}},
                                          {2, {"operator", Type::kString}},
                                          {3, {"values", Type::kString, true}}};
const Schema kLabelSelector = {
    {1, {"matchLabels", Type::kStringMap}},
    {2, {"matchExpressions", Type::kMessage, true, &kLabelSelectorRequirement}}};
const Schema kContainerPort = {{1, {"name", Type::kString}},
                               {2, {"hostPort", Type::kInt}},
                               {3, {"containerPort", Type::kInt}},
                               {4, {"protocol", Type::kString}},
                               {5, {"hostIP", Type::kString}}};
const Schema kEnvVar = {{1, {"name", Type::kString}}, {2, {"value", Type::kString}}};
const Schema kVolumeMount = {{1, {"name", Type::kString}},
                             {2, {"readOnly", Type::kBool}},
                             {3, {"mountPath", Type::kString}},
                             {4, {"subPath", Type::kString}}};
const Schema kEmpty = {};
const Schema kContainer = {
    {1, {"name", Type::kString}},
    {2, {"image", Type::kString}},
    {3, {"command", Type::kString, true}},
    {4, {"args", Type::kString, true}},
    {5, {"workingDir", Type::kString}},
    {6, {"ports", Type::kMessage, true, &kContainerPort}},
    {7, {"env", Type::kMessage, true, &kEnvVar}},
    {8, {"resources", Type::kMessage, false, &kEmpty}},
    {9, {"volumeMounts", Type::kMessage, true, &kVolumeMount}},
    {13, {"terminationMessagePath", Type::kString}},
    {14, {"imagePullPolicy", Type::kString}},
    {16, {"stdin", Type::kBool}},
    {17, {"stdinOnce", Type::kBool}},
    {18, {"tty", Type::kBool}},
    {20, {"terminationMessagePolicy", Type::kString}},
};
const Schema kPodSpec = {
    {2, {"containers", Type::kMessage, true, &kContainer}},
    {3, {"restartPolicy", Type::kString}},
    {4, {"terminationGracePeriodSeconds", Type::kInt}},
    {5, {"activeDeadlineSeconds", Type::kInt}},
    {6, {"dnsPolicy", Type::kString}},
    {7, {"nodeSelector", Type::kStringMap}},
    {8, {"serviceAccountName", Type::kString}},
    {10, {"nodeName", Type::kString}},
    {11, {"hostNetwork", Type::kBool}},
    {14, {"securityContext", Type::kMessage, false, &kEmpty}},
    {15, {"imagePullSecrets", Type::kMessage, true, &kLocalObjectReference}},
    {19, {"schedulerName", Type::kString}},
    {20, {"initContainers", Type::kMessage, true, &kContainer}},
};
const Schema kPodTemplateSpec = {{1, {"metadata", Type::kMessage, false, &kObjectMeta}},
                                 {2, {"spec", Type::kMessage, false, &kPodSpec}}};
const Schema kPod = {{1, {"metadata", Type::kMessage, false, &kObjectMeta}},
                     {2, {"spec", Type::kMessage, false, &kPodSpec}},
                     {3, {"status", Type::kMessage, false, &kEmpty}}};
const Schema kDeploymentStrategy = {{1, {"type", Type::kString}}};
const Schema kDeploymentSpec = {
    {1, {"replicas", Type::kInt}},
    {2, {"selector", Type::kMessage, false, &kLabelSelector}},
    {3, {"template", Type::kMessage, false, &kPodTemplateSpec}},
    {4, {"strategy", Type::kMessage, false, &kDeploymentStrategy}},
    {5, {"minReadySeconds", Type::kInt}},
    {6, {"revisionHistoryLimit", Type::kInt}},
    {7, {"paused", Type::kBool}},
    {9, {"progressDeadlineSeconds", Type::kInt}},
};
const Schema kDeployment = {{1, {"metadata", Type::kMessage, false, &kObjectMeta}},
                            {2, {"spec", Type::kMessage, false, &kDeploymentSpec}},
                            {3, {"status", Type::kMessage, false, &kEmpty}}};
const Schema kServicePort = {{1, {"name", Type::kString}},
                             {2, {"protocol", Type::kString}},
                             {3, {"port", Type::kInt}},
                             {4, {"targetPort", Type::kIntOrString}},
                             {5, {"nodePort", Type::kInt}}};
const Schema kServiceSpec = {{1, {"ports", Type::kMessage, true, &kServicePort}},
                             {2, {"selector", Type::kStringMap}},
                             {3, {"clusterIP", Type::kString}},
                             {4, {"type", Type::kString}},
                             {5, {"externalIPs", Type::kString, true}},
                             {7, {"sessionAffinity", Type::kString}},
                             {11, {"externalName", Type::kString}}};
const Schema kService = {{1, {"metadata", Type::kMessage, false, &kObjectMeta}},
                         {2, {"spec", Type::kMessage, false, &kServiceSpec}},
                         {3, {"status", Type::kMessage, false, &kEmpty}}};

// authorization.k8s.io/v1: what `kubectl auth can-i` posts.
const Schema kResourceAttributes = {
    {1, {"namespace", Type::kString}}, {2, {"verb", Type::kString}},
    {3, {"group", Type::kString}},     {4, {"version", Type::kString}},
    {5, {"resource", Type::kString}},  {6, {"subresource", Type::kString}},
    {7, {"name", Type::kString}}};
const Schema kNonResourceAttributes = {{1, {"path", Type::kString}}, {2, {"verb", Type::kString}}};
const Schema kSelfSubjectAccessReviewSpec = {
    {1, {"resourceAttributes", Type::kMessage, false, &kResourceAttributes}},
    {2, {"nonResourceAttributes", Type::kMessage, false, &kNonResourceAttributes}}};
const Schema kSelfSubjectAccessReview = {
    {1, {"metadata", Type::kMessage, false, &kObjectMeta}},
    {2, {"spec", Type::kMessage, false, &kSelfSubjectAccessReviewSpec}},
    {3, {"status", Type::kMessage, false, &kEmpty}}};

// rbac.authorization.k8s.io/v1: what `kubectl create role|clusterrole|rolebinding|
// clusterrolebinding` sends (every field of these kinds; they are small).
const Schema kPolicyRule = {{1, {"verbs", Type::kString, true}},
                            {2, {"apiGroups", Type::kString, true}},
                            {3, {"resources", Type::kString, true}},
                            {4, {"resourceNames", Type::kString, true}},
                            {5, {"nonResourceURLs", Type::kString, true}}};
const Schema kAggregationRule = {
    {1, {"clusterRoleSelectors", Type::kMessage, true, &kLabelSelector}}};
const Schema kRole = {{1, {"metadata", Type::kMessage, false, &kObjectMeta}},
                      {2, {"rules", Type::kMessage, true, &kPolicyRule}}};
const Schema kClusterRole = {{1, {"metadata", Type::kMessage, false, &kObjectMeta}},
                             {2, {"rules", Type::kMessage, true, &kPolicyRule}},
                             {3, {"aggregationRule", Type::kMessage, false, &kAggregationRule}}};
const Schema kSubject = {{1, {"kind", Type::kString}},
                         {2, {"apiGroup", Type::kString}},
                         {3, {"name", Type::kString}},
                         {4, {"namespace", Type::kString}}};
const Schema kRoleRef = {{1, {"apiGroup", Type::kString}},
                         {2, {"kind", Type::kString}},
                         {3, {"name", Type::kString}}};
const Schema kRoleBinding = {{1, {"metadata", Type::kMessage, false, &kObjectMeta}},
                             {2, {"subjects", Type::kMessage, true, &kSubject}},
                             {3, {"roleRef", Type::kMessage, false, &kRoleRef}}};

}  // namespace

StatusOr<json> DecodeKubernetesProtobuf(const std::string& body) {
  static const std::string kMagic("k8s\0", 4);
  if (body.size() < 4 || body.compare(0, 4, kMagic) != 0) {
    return InvalidArgumentError("protobuf body does not start with the Kubernetes magic prefix");
  }
  std::string_view envelope(body);
  envelope.remove_prefix(4);
  Reader r(envelope);
  json type_meta = json::object();
  std::string_view raw;
  while (!r.done()) {
    uint64_t tag;
    if (!r.Varint(&tag)) return InvalidArgumentError("malformed protobuf envelope");
    std::string_view s;
    if ((tag & 7) == 2 && ((tag >> 3) == 1 || (tag >> 3) == 2)) {
      if (!r.Bytes(&s)) return InvalidArgumentError("malformed protobuf envelope");
      if ((tag >> 3) == 1) {
        MERIDIAN_RETURN_IF_ERROR(DecodeMessage(s, kTypeMeta, &type_meta));
      } else {
        raw = s;
      }
    } else if (!r.Skip(static_cast<int>(tag & 7))) {
      return InvalidArgumentError("malformed protobuf envelope");
    }
  }
  const std::string kind = type_meta.value("kind", "");
  const std::string api_version = type_meta.value("apiVersion", "");
  static const std::map<std::string, const Schema*> kSchemas = {
      {"v1/Namespace", &kNamespace},
      {"v1/ConfigMap", &kConfigMap},
      {"v1/Secret", &kSecret},
      {"v1/ServiceAccount", &kServiceAccount},
      {"v1/Pod", &kPod},
      {"v1/Service", &kService},
      {"apps/v1/Deployment", &kDeployment},
      {"authorization.k8s.io/v1/SelfSubjectAccessReview", &kSelfSubjectAccessReview},
      {"rbac.authorization.k8s.io/v1/Role", &kRole},
      {"rbac.authorization.k8s.io/v1/ClusterRole", &kClusterRole},
      {"rbac.authorization.k8s.io/v1/RoleBinding", &kRoleBinding},
      {"rbac.authorization.k8s.io/v1/ClusterRoleBinding", &kRoleBinding},
  };
  auto schema = kSchemas.find(api_version + "/" + kind);
  if (schema == kSchemas.end()) {
    return UnimplementedError("protobuf request bodies are supported only for v1 Namespace, "
                              "ConfigMap, Secret, ServiceAccount, Pod, Service, apps/v1 "
                              "Deployment and the rbac.authorization.k8s.io/v1 kinds (got " +
                              api_version + " " + kind +
                              "); send JSON instead, e.g. kubectl create -f FILE");
  }
  json out = {{"apiVersion", api_version}, {"kind", kind}};
  MERIDIAN_RETURN_IF_ERROR(DecodeMessage(raw, *schema->second, &out));
  return out;
}

}  // namespace meridian::apimachinery::rest
