// libFuzzer target: gRPC request decoding (federation-apiserver/grpc/grpc_service.h): protobuf
// messages parsed from the wire bytes and converted into ObjectService calls, over the same
// in-process stack as the REST fuzzers (Meridian's kinds, admission, an in-memory store); no
// channel or server. An input is up to 6 calls, each [rpc byte][length: 2 bytes, big endian]
// [serialized request]; the rpc byte picks Create, Get, List, Update, Patch or Delete.
// Checks, beyond "no crash / no sanitizer report": an OK answer carries JSON that parses, an
// error carries a message and a Kubernetes Status trailer; nothing stored is refused by its
// own strict decoder.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "common/json_parse.h"
#include "federation-apiserver/grpc/grpc_service.h"
#include "test/fuzz/apiserver/fuzz_api_checks.h"
#include "test/fuzz/apiserver/fuzz_api_stack.h"

namespace {

namespace fedpb = meridian::apiserver::fedpb;

void CheckJson(const std::string& text) {
  if (meridian::ParseJson(text).is_discarded()) {
    fprintf(stderr, "answer is not JSON: %s\n", text.c_str());
    abort();
  }
}

void CheckStatus(const grpc::Status& status) {
  if (status.ok()) return;
  if (status.error_code() == grpc::StatusCode::UNKNOWN || status.error_message().empty()) {
    fprintf(stderr, "error %d without a message: %s\n", status.error_code(),
            status.error_message().c_str());
    abort();
  }
}

template <typename Request, typename Response, typename Method>
void Call(meridian::apiserver::GrpcService& service, Method method, const std::string& bytes) {
  Request request;
  if (!request.ParseFromString(bytes)) return;
  Response response;
  grpc::ServerContext context;
  grpc::Status status = (service.*method)(&context, &request, &response);
  CheckStatus(status);
  if (status.ok()) {
    if constexpr (std::is_same_v<Response, fedpb::ObjectResponse>) {
      CheckJson(response.object_json());
    } else {
      for (const std::string& item : response.items_json()) CheckJson(item);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fuzz::ApiStack stack;
  meridian::apiserver::GrpcService service(stack.objects());
  using S = meridian::apiserver::GrpcService;
  size_t pos = 0;
  for (int i = 0; i < 6 && pos + 3 <= size; ++i) {
    const int rpc = data[pos] % 6;
    const size_t len =
        std::min<size_t>((size_t{data[pos + 1]} << 8) | data[pos + 2], size - pos - 3);
    const std::string bytes(reinterpret_cast<const char*>(data + pos + 3), len);
    pos += 3 + len;
    switch (rpc) {
      case 0:
        Call<fedpb::CreateRequest, fedpb::ObjectResponse>(service, &S::Create, bytes);
        break;
      case 1:
        Call<fedpb::GetRequest, fedpb::ObjectResponse>(service, &S::Get, bytes);
        break;
      case 2:
        Call<fedpb::ListRequest, fedpb::ListResponse>(service, &S::List, bytes);
        break;
      case 3:
        Call<fedpb::UpdateRequest, fedpb::ObjectResponse>(service, &S::Update, bytes);
        break;
      case 4:
        Call<fedpb::PatchRequest, fedpb::ObjectResponse>(service, &S::Patch, bytes);
        break;
      case 5:
        Call<fedpb::DeleteRequest, fedpb::ObjectResponse>(service, &S::Delete, bytes);
        break;
    }
  }
  service.Stop();
  meridian::fuzz::CheckStoredObjectsDecode(stack);
  return 0;
}
