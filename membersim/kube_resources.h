// The Kubernetes resources a simulated member cluster serves (core/v1, apps/v1, batch/v1,
// networking.k8s.io/v1 Ingress, policy/v1 PodDisruptionBudget, with the
// columns `kubectl get` shows), and the server-side defaulting a real API server applies that
// the generic ObjectService does not know about (Service clusterIP allocation and defaults).
#pragma once

#include <atomic>
#include <cstdint>

#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"

namespace meridian::membersim {

// A registry with namespaces, nodes, pods, services, endpoints, configmaps, secrets, events,
// serviceaccounts, deployments, replicasets, statefulsets, daemonsets, controllerrevisions, jobs,
// cronjobs, ingresses, poddisruptionbudgets (stored, not run), and the generic
// fallback for any other namespaced group/version/resource. Built once; read-only after.
const apimachinery::ResourceRegistry& MemberClusterRegistry();

// Mutating admission for Services: type defaults to ClusterIP, a clusterIP is allocated from
// 10.96.0.0/16 (counter `next_ip`, owned by the caller's cluster) unless ExternalName or
// "None", ports get protocol TCP and targetPort = port, sessionAffinity None. Thread-safe.
apimachinery::MutatingAdmission ServiceDefaulting(std::atomic<uint32_t>* next_ip);

// Mutating admission applying the API server's defaults to apps/v1 workloads (as
// k8s.io/kubernetes/pkg/apis/apps/v1/defaults.go and core/v1 pod defaults do): replicas 1,
// Deployment strategy RollingUpdate 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds
// 600; StatefulSet updateStrategy RollingUpdate (partition 0) and podManagementPolicy
// OrderedReady; pod template restartPolicy, dnsPolicy, schedulerName,
// terminationGracePeriodSeconds, container imagePullPolicy and terminationMessage*.
// Thread-safe.
apimachinery::MutatingAdmission WorkloadDefaulting();

// Mutating admission (last) making a stored built-in object what kube-apiserver's decode and
// encode round trip makes it: resource quantities in canonical form (common/quantity.h:
// `cpu: 0.5` -> "500m", "1.0" -> "1", "1024Mi" -> "1Gi"; a JSON number becomes a string) in
// requests, limits, overhead, hard, capacity, allocatable and sizeLimit; null values and empty
// lists dropped (Go's omitempty). A value that is not a quantity is rejected 400 BadRequest
// naming its field, as the real server's decoder does. Objects of other groups are stored as sent.
// Thread-safe.
apimachinery::MutatingAdmission StorageRoundTrip();

// metadata.generation only where kube-apiserver keeps one: its registry strategies set it for
// kinds with a spec that controllers observe (apps, batch, policy, networking, custom
// resources); core-group kinds (Namespace, ConfigMap, Service, Pod, ...) carry none in 1.32.
// ObjectService gives every object a generation; this takes it off the core kinds.
apimachinery::MutatingAdmission CoreKindsHaveNoGeneration();

// A new Namespace gets spec.finalizers ["kubernetes"], as kube-apiserver's namespace strategy
// gives every namespace (its namespace controller removes it once the namespace is empty).
// Thread-safe.
apimachinery::MutatingAdmission NamespaceDefaulting();

}  // namespace meridian::membersim
