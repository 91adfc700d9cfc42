// jemalloc's options, compiled into the servers that link it (cmake: meridian_server_allocator).
// jemalloc reads this symbol at start-up (before MALLOC_CONF from the environment, which still
// overrides it, e.g. MALLOC_CONF=prof:true for a heap profile).
//
// background_thread: freed pages go back to the kernel after dirty_decay_ms (10 s) even while
// the server allocates nothing (without it, only on allocator activity); what glibc needed
// HeapTrimmer's malloc_trim for (federation-apiserver/heap_trimmer.h).
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's interface.
const char* malloc_conf = "background_thread:true";
}
