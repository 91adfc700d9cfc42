// --encryption-provider-config: kube-apiserver's EncryptionConfiguration file
// (apiserver.config.k8s.io/v1), read into the per-resource provider chains of
// apimachinery/transforming_store.h.
//
//   apiVersion: apiserver.config.k8s.io/v1
//   kind: EncryptionConfiguration
//   resources:
//   - resources: [secrets]          # "secrets", or "<resource>.<group>"
//     providers:                    # the first writes; every one reads what it wrote
//     - aesgcm:
//         keys:                     # the first key encrypts; all decrypt
//         - {name: key2, secret: <base64 of 16, 24 or 32 random bytes>}
//         - {name: key1, secret: <...>}
//     - identity: {}                # reads Secrets stored before encryption was turned on
//
// Supported providers: aesgcm and identity (aescbc, secretbox and kms are refused by name).
// Wildcards ("*.*") are not supported. Without the flag, Secrets are stored as they are
// (identity), and watches still never replay deleted credentials.
//
// Pure; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "apimachinery/store.h"
#include "apimachinery/value_transformer.h"
#include "common/status.h"

namespace meridian::apiserver {

// Parses the file's text (YAML or JSON). kInvalidArgument "FILE: FIELD: what" for a wrong
// apiVersion/kind, an unknown field or provider, a resource listed twice, a key that is not
// base64 or not 16/24/32 bytes, duplicate key names, or an empty provider or key list.
StatusOr<std::map<apimachinery::ResourceType, apimachinery::ProviderChain>>
ParseEncryptionConfiguration(std::string_view text, const std::string& file);

// Reads and parses `file`; kInvalidArgument naming the file when it cannot be read.
StatusOr<std::map<apimachinery::ResourceType, apimachinery::ProviderChain>>
LoadEncryptionConfiguration(const std::string& file);

// What the server uses without --encryption-provider-config: Secrets through identity, so
// their watches still redact deleted credentials (transforming_store.h).
std::map<apimachinery::ResourceType, apimachinery::ProviderChain> DefaultEncryption();

}  // namespace meridian::apiserver
