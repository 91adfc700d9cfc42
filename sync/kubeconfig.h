// Kubeconfig loading: turns a kubeconfig file (the YAML kubectl uses) and a context name
// into a MemberEndpoint. `fedctl join --kubeconfig F --context C` uses it.
//
// Supported: clusters[].cluster.{server, certificate-authority-data, certificate-authority,
// insecure-skip-tls-verify}; users[].user.{token, tokenFile, client-certificate-data,
// client-key-data, client-certificate, client-key}; contexts[].context.{cluster, user,
// namespace}; current-context. Relative file paths are relative to the kubeconfig's folder.
// Unsupported authentication (exec, auth-provider, username/password) is an error naming the
// field, never silently ignored.
//
// Errors are kInvalidArgument (kNotFound for a missing file or context), with the file, the
// line when known and the field: `kubeconfig /home/me/.kube/config:12: users[0].user.
// client-key-data: not valid base64`.
//
// Functions are pure apart from reading the files named; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "sync/member_client.h"

namespace meridian::sync {

struct KubeconfigSelection {
  std::string context;    // the context used (the requested one or current-context)
  std::string cluster;    // its cluster entry
  std::string user;       // its user entry ("" when the context names none)
  std::string namespace_;  // its namespace ("" when unset)
  // name = the context name, server, credentials; timeout left at its default.
  MemberEndpoint endpoint;
};

// Reads `path` and selects `context` ("" = current-context).
StatusOr<KubeconfigSelection> LoadKubeconfig(const std::string& path, const std::string& context);

// Same from text already read. `source` names it in errors; `base_dir` resolves relative
// file paths ("" = the working directory).
StatusOr<KubeconfigSelection> ParseKubeconfig(const std::string& text, const std::string& source,
                                              const std::string& base_dir,
                                              const std::string& context);

// What kubectl's --context, --user and --cluster replace ("" = keep the kubeconfig's).
struct KubeconfigOverrides {
  std::string context;
  std::string user;
  std::string cluster;
};

// Loads several kubeconfig files as kubectl merges $KUBECONFIG: for clusters, users and
// contexts the first file defining a name wins, current-context is the first one set; a
// relative file path in an entry is relative to the folder of the file that defined it.
// Then `overrides` apply (the user and cluster replace the selected context's). Files that do
// not exist are skipped, as kubectl does, but at least one must exist (kNotFound). Errors name
// the file (and line, when one file is read) and the field.
StatusOr<KubeconfigSelection> LoadMergedKubeconfig(const std::vector<std::string>& paths,
                                                   const KubeconfigOverrides& overrides);

// The context names in a kubeconfig, in file order.
StatusOr<std::vector<std::string>> KubeconfigContexts(const std::string& path);

}  // namespace meridian::sync
