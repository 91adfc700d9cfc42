#include "sync/member_client_factory.h"

#include "common/base64.h"
#include "sync/http_member_client.h"

namespace meridian::sync {

using nlohmann::json;

Status ReadMemberCredentials(apimachinery::ObjectService& objects, const api::MemberCluster& member,
                             MemberCredentials* credentials) {
  const api::SecretReference& ref = member.spec.credentials_ref;
  const std::string ns = ref.ns.empty() ? "meridian-system" : ref.ns;
  const std::string what =
      "member \"" + member.metadata.name + "\": credentials Secret " + ns + "/" + ref.name;
  const apimachinery::ResourceInfo* secrets = objects.registry().Find("", "v1", "secrets");
  if (secrets == nullptr) return FailedPreconditionError(what + ": Secrets are not served");
  auto secret = objects.Get(*secrets, ns, ref.name);
  if (!secret.ok()) return UnavailableError(what + ": " + secret.error().message);
  const json data = secret.value().value("data", json::object());
  auto field = [&](const char* key, std::string* out) -> Status {
    if (!data.is_object() || !data.contains(key)) return Status::Ok();
    if (!data[key].is_string())
      return InvalidArgumentError(what + ": data." + key + " is not a string");
    std::optional<std::string> decoded = Base64Decode(data[key].get<std::string>());
    if (!decoded) return InvalidArgumentError(what + ": data." + key + " is not base64");
    *out = std::move(*decoded);
    return Status::Ok();
  };
  MERIDIAN_RETURN_IF_ERROR(field("token", &credentials->bearer_token));
  MERIDIAN_RETURN_IF_ERROR(field("ca.crt", &credentials->certificate_authority_pem));
  MERIDIAN_RETURN_IF_ERROR(field("tls.crt", &credentials->client_certificate_pem));
  MERIDIAN_RETURN_IF_ERROR(field("tls.key", &credentials->client_key_pem));
  return Status::Ok();
}

namespace {

// MemberClient with every write behind a WritePermit.
class FencedMemberClient final : public ForwardingMemberClient {
 public:
  FencedMemberClient(std::shared_ptr<MemberClient> inner, WritePermit permit)
      : ForwardingMemberClient(std::move(inner)), permit_(std::move(permit)) {}

  StatusOr<json> Create(const GroupVersionResource& gvr, const std::string& ns,
                        const json& object) override {
    MERIDIAN_RETURN_IF_ERROR(Permit());
    return inner().Create(gvr, ns, object);
  }
  StatusOr<json> Update(const GroupVersionResource& gvr, const std::string& ns,
                        const json& object) override {
    MERIDIAN_RETURN_IF_ERROR(Permit());
    return inner().Update(gvr, ns, object);
  }
  StatusOr<json> UpdateStatus(const GroupVersionResource& gvr, const std::string& ns,
                              const json& object) override {
    MERIDIAN_RETURN_IF_ERROR(Permit());
    return inner().UpdateStatus(gvr, ns, object);
  }
  StatusOr<json> MergePatch(const GroupVersionResource& gvr, const std::string& ns,
                            const std::string& name, const json& patch) override {
    MERIDIAN_RETURN_IF_ERROR(Permit());
    return inner().MergePatch(gvr, ns, name, patch);
  }
  StatusOr<json> JsonPatch(const GroupVersionResource& gvr, const std::string& ns,
                           const std::string& name, const json& ops) override {
    MERIDIAN_RETURN_IF_ERROR(Permit());
    return inner().JsonPatch(gvr, ns, name, ops);
  }
  Status Delete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                const MemberDeleteOptions& options) override {
    MERIDIAN_RETURN_IF_ERROR(Permit());
    return inner().Delete(gvr, ns, name, options);
  }

 private:
  Status Permit() const {
    Status st = permit_();
    if (st.ok()) return st;
    return st.WithContext("member \"" + member() + "\"");
  }

  const WritePermit permit_;
};

}  // namespace

MemberClientFactory FencedMemberClientFactory(MemberClientFactory inner, WritePermit permit) {
  if (!permit) return inner;
  return [inner = std::move(inner), permit = std::move(permit)](
             const api::MemberCluster& member) -> StatusOr<std::shared_ptr<MemberClient>> {
    MERIDIAN_ASSIGN_OR_RETURN(std::shared_ptr<MemberClient> client, inner(member));
    return std::shared_ptr<MemberClient>(
        std::make_shared<FencedMemberClient>(std::move(client), permit));
  };
}

MemberClientFactory HttpMemberClientFactory(apimachinery::ObjectService& objects,
                                            std::chrono::milliseconds timeout) {
  return [&objects,
          timeout](const api::MemberCluster& member) -> StatusOr<std::shared_ptr<MemberClient>> {
    MemberEndpoint endpoint;
    endpoint.name = member.metadata.name;
    endpoint.server = member.spec.server;
    endpoint.credentials.insecure_skip_tls_verify = member.spec.insecure_skip_tls_verify;
    endpoint.timeout = timeout;
    if (!member.spec.credentials_ref.name.empty()) {
      MERIDIAN_RETURN_IF_ERROR(ReadMemberCredentials(objects, member, &endpoint.credentials));
    }
    MERIDIAN_ASSIGN_OR_RETURN(auto client, HttpMemberClient::Create(std::move(endpoint)));
    return std::shared_ptr<MemberClient>(std::move(client));
  };
}

std::shared_ptr<MemberClient> MemberClientCache::Get(const api::MemberCluster& m,
                                                     std::string* error) {
  const std::string made_from = m.spec.server + "|" +
                                (m.spec.insecure_skip_tls_verify ? "1" : "0") + "|" +
                                m.spec.credentials_ref.ns + "/" + m.spec.credentials_ref.name;
  auto it = clients_.find(m.metadata.name);
  if (it != clients_.end() && it->second.first == made_from) return it->second.second;
  StatusOr<std::shared_ptr<MemberClient>> client = factory_(m);
  if (!client.ok()) {
    *error = client.status().ToString();
    return nullptr;
  }
  clients_[m.metadata.name] = {made_from, *client};
  return *client;
}

}  // namespace meridian::sync
