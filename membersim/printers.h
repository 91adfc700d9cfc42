// kubectl rows for the core kinds, as kube-apiserver prints them
// (k8s.io/kubernetes/pkg/printers/internalversion/printers.go): the cells after NAME, one per
// column of the matching *Columns() list. A JSONPath column cannot compute "3/3", "NotReady"
// or "80:30080/TCP", so these are ResourceInfo::row_cells printers.
//
// Pure functions of (object, now); thread-safe. Missing fields print as upstream does
// ("<none>", "<pending>", 0).
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "apimachinery/resource_registry.h"
#include "common/clock.h"

namespace meridian::membersim {

// NAME STATUS ROLES AGE VERSION | wide: INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION
// CONTAINER-RUNTIME. STATUS is Ready / NotReady (condition False or Unknown) / Unknown (no
// Ready condition), plus ",SchedulingDisabled" when cordoned. ROLES from
// node-role.kubernetes.io/* labels.
std::vector<apimachinery::PrinterColumn> NodeColumns();
nlohmann::json NodeRow(const nlohmann::json& node, Timestamp now);

// NAME READY STATUS RESTARTS AGE | wide: IP NODE NOMINATED NODE READINESS GATES.
// READY is ready/total containers; STATUS the phase, or status.reason, or a container's
// waiting/terminated reason, or Terminating while deleting.
std::vector<apimachinery::PrinterColumn> PodColumns();
nlohmann::json PodRow(const nlohmann::json& pod, Timestamp now);

// NAME READY UP-TO-DATE AVAILABLE AGE | wide: CONTAINERS IMAGES SELECTOR.
std::vector<apimachinery::PrinterColumn> DeploymentColumns();
nlohmann::json DeploymentRow(const nlohmann::json& deployment, Timestamp now);

// NAME DESIRED CURRENT READY AGE | wide: CONTAINERS IMAGES SELECTOR.
std::vector<apimachinery::PrinterColumn> ReplicaSetColumns();
nlohmann::json ReplicaSetRow(const nlohmann::json& replica_set, Timestamp now);

// NAME READY AGE | wide: CONTAINERS IMAGES.
std::vector<apimachinery::PrinterColumn> StatefulSetColumns();
nlohmann::json StatefulSetRow(const nlohmann::json& stateful_set, Timestamp now);

// NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE | wide: SELECTOR. EXTERNAL-IP is the load
// balancer's ingress (or <pending>), externalIPs, or the ExternalName; PORT(S) "80/TCP" or
// "80:30080/TCP".
std::vector<apimachinery::PrinterColumn> ServiceColumns();
nlohmann::json ServiceRow(const nlohmann::json& service, Timestamp now);

}  // namespace meridian::membersim
