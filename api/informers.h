// Meridian's own kinds through the process's shared informers (apimachinery/informer.h): the
// in-process controllers read their fleet from these caches instead of LISTing per pass.
#pragma once

#include "api/typed_list.h"
#include "apimachinery/informer.h"

namespace meridian::api {

// The shared informer of federation.meridian.io/v1alpha1 `plural` in `factory` (created on
// first use, not started). A kind the registry does not have is a wiring bug: aborts, naming
// `who` (as MeridianResource).
template <typename T>
apimachinery::SharedInformer<T>& MeridianInformer(apimachinery::SharedInformerFactory& factory,
                                                  const char* plural,
                                                  T (*decode)(const nlohmann::json&, FieldErrors*),
                                                  const char* who) {
  return factory.For<T>(MeridianResource(factory.objects(), plural, who), decode);
}

}  // namespace meridian::api
