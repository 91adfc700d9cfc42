// The controller manager: the controllers federation-apiserver runs in-process, selected with
// --controllers the way kube-controller-manager selects its own ("*" for all, "-name" to
// leave one out, "none" for an API-only process).
//
// Each controller lives in its own module (failover/, sync/, dns/) and is registered in one
// small file under federation-apiserver/controllers/, so adding a controller never edits
// main.cc: the file adds its flags and says how to start it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace CLI {
class App;
}

namespace meridian::apimachinery {
class ObjectService;
class SharedInformerFactory;
}

namespace meridian::dns {
class RecordSource;
}

namespace meridian::apiserver {

class MemberSchemas;

// What every controller is built from: the same ObjectService requests go through (so
// admission, validation and watches apply to controllers too), and the process clock.
struct ControllerContext {
  apimachinery::ObjectService& objects;
  const Clock& clock;
  // The members' template schemas admission reads (null: no such consumer in this process).
  MemberSchemas* member_schemas = nullptr;
  // What this process's DNS server answers from: set by the dns controller when it serves
  // (--dns-listen), for controllers started after it (the drill controller samples it).
  const dns::RecordSource* served_dns = nullptr;
  // Where that server listens (its bound port), for the drill controller's DNS probes, which
  // are real queries (failover/drill_dns_udp.h); empty / 0 when it does not serve.
  std::string served_dns_address;
  uint16_t served_dns_port = 0;
  // The process's shared informers over `objects` (apimachinery/informer.h): one LIST and
  // one watch per kind however many controllers read it (null: each controller has its own).
  apimachinery::SharedInformerFactory* informers = nullptr;
  // Asked before every write to a member (sync::FencedMemberClientFactory; wrap every member
  // client factory a controller makes with it). federation-controller-manager sets its
  // LeaderElector::WritePermit, so a leader resumed from a pause past its lease writes
  // nothing to the members; empty in the embedded mode (no other leader to fence out).
  std::function<Status()> member_write_permit;
};

// A started controller. Stop is called once, in reverse start order, before the process
// exits; it must wait for the controller's threads.
class RunningController {
 public:
  virtual ~RunningController() = default;
  virtual void Stop() = 0;
};

struct ControllerDefinition {
  std::string name;         // as written in --controllers
  std::string description;  // one line, for --help
  // Lower first. Controllers that others read from start earlier (health before placement
  // before propagation before DNS).
  int start_order = 100;
  // Adds the controller's own flags to the process's command line (may be empty).
  std::function<void(CLI::App&)> add_flags;
  // Starts the controller; an error stops the process before it serves anything.
  std::function<StatusOr<std::unique_ptr<RunningController>>(ControllerContext&)> start;
  // Optional. Called by SelectControllers when the selection leaves this controller out; an
  // error (e.g. one of its own flags was given, which would otherwise be silently ignored)
  // fails the selection, so the process stops before it serves anything.
  std::function<Status()> check_not_selected;
};

// Registers a controller at static-initialisation time (one per file in controllers/).
struct ControllerRegistration {
  explicit ControllerRegistration(ControllerDefinition definition);
};

// Every registered controller, by start order then name.
std::vector<const ControllerDefinition*> RegisteredControllers();

// Parses --controllers: "all" or "*" (every controller), "none", or a comma list of names,
// "*" and "-name". Errors name the unknown controller and list the known ones, or come from
// the check_not_selected of a controller left out (prefixed "--controllers FLAG: ").
StatusOr<std::vector<const ControllerDefinition*>> SelectControllers(const std::string& flag);

// What a check_not_selected hook returns: OK when `given` (the controller's own flags that were
// set) is empty, else InvalidArgument "--a, --b given, but the NAME controller is not
// selected, so they would be ignored; add NAME to --controllers, or drop the flags".
Status FlagsWithoutController(const std::string& controller, const std::vector<std::string>& given);

// Starts `selected` in order; on an error stops the ones already started and returns it.
// The returned controllers stop (in reverse order) when StopAll is called or on destruction.
class ControllerManager {
 public:
  ~ControllerManager() { StopAll(); }
  Status StartAll(const std::vector<const ControllerDefinition*>& selected,
                  ControllerContext& context);
  void StopAll();
  std::vector<std::string> running() const { return names_; }

 private:
  std::vector<std::unique_ptr<RunningController>> running_;
  std::vector<std::string> names_;
};

// Adapts a controller object with Start()/Stop() (Start returning Status or void).
template <typename T>
class OwnedController : public RunningController {
 public:
  explicit OwnedController(std::unique_ptr<T> controller) : controller_(std::move(controller)) {}
  void Stop() override { controller_->Stop(); }
  T& get() { return *controller_; }

 private:
  std::unique_ptr<T> controller_;
};

template <typename T>
StatusOr<std::unique_ptr<RunningController>> StartOwned(std::unique_ptr<T> controller) {
  if constexpr (std::is_same_v<decltype(controller->Start()), void>) {
    controller->Start();
  } else {
    Status st = controller->Start();
    if (!st.ok()) return st;
  }
  return std::unique_ptr<RunningController>(new OwnedController<T>(std::move(controller)));
}

}  // namespace meridian::apiserver
