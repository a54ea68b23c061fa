#ifndef CSYSSHIMS_H
#define CSYSSHIMS_H

#include <sys/socket.h>

/// The symbolic name of an errno ("ECONNREFUSED"), or NULL when the platform defines none.
/// Wraps glibc's strerrorname_np, which Swift's Glibc module does not export.
const char *st_errno_name(int err);

/// The message of an errno ("Connection refused"), thread-safe (GNU strerror_r).
const char *st_errno_message(int err, char *buf, unsigned long size);

/// Asks the kernel to SIGKILL the calling process when the thread that started it exits;
/// -1 when that cannot be set, or `parent` is gone already (prctl is variadic: Swift cannot call it).
int st_die_with_parent(int parent);

/// accept4(2), which glibc declares only under _GNU_SOURCE.
int st_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/// How many filters the calling thread is inside (FilterScope). A C thread-local: reading
/// it is one load, where pthread_getspecific is a call (measured: ~95 instructions per filtered
/// call for the get/set pair, against a handful).
extern __thread int st_filter_scope_depth __attribute__((tls_model("initial-exec")));

static inline int st_filter_scope_active(void) { return st_filter_scope_depth != 0; }
static inline void st_filter_scope_enter(void) { st_filter_scope_depth += 1; }
static inline void st_filter_scope_leave(void) { st_filter_scope_depth -= 1; }

/// A connect the calling thread's before-filter asked to leave unanswered, for how long (0: none).
extern __thread double st_unanswered_seconds __attribute__((tls_model("initial-exec")));
static inline void st_unanswered_set(double seconds) { st_unanswered_seconds = seconds; }
static inline double st_unanswered_take(void) { double s = st_unanswered_seconds; st_unanswered_seconds = 0; return s; }

/// What the calling thread's data-path filter answered beyond an errno (DataAction): a kind
/// (0: none) and a byte count.
extern __thread int st_data_action_kind __attribute__((tls_model("initial-exec")));
extern __thread long st_data_action_count __attribute__((tls_model("initial-exec")));
static inline void st_data_action_set(int kind, long count) { st_data_action_kind = kind; st_data_action_count = count; }
static inline int st_data_action_take(long *count) {
    int kind = st_data_action_kind;
    *count = st_data_action_count;
    st_data_action_kind = 0;
    return kind;
}

static inline int st_data_action_peek(long *count) { *count = st_data_action_count; return st_data_action_kind; }

/// A delay a chain of Lua filters (socktest.add) decided beside the after-filters of its earlier
/// filters, for the filter host to wait out: -1 for none.
extern __thread double st_chain_delay __attribute__((tls_model("initial-exec")));
static inline void st_chain_delay_set(double seconds) { st_chain_delay = seconds; }
static inline double st_chain_delay_take(void) { double s = st_chain_delay; st_chain_delay = -1; return s; }

/// Who on the calling thread wants to hear that it is about to wait (Waiting), with its
/// context; NULL when nobody does. Thread-locals, so saying "about to wait" costs one load.
extern __thread void (*st_wait_observer)(void *) __attribute__((tls_model("initial-exec")));
extern __thread void *st_wait_observer_context __attribute__((tls_model("initial-exec")));

static inline void st_will_wait(void) {
    if (st_wait_observer) st_wait_observer(st_wait_observer_context);
}
static inline void *st_wait_observer_get_context(void) { return st_wait_observer_context; }
static inline void st_set_wait_observer(void (*observer)(void *), void *context) {
    st_wait_observer = observer;
    st_wait_observer_context = context;
}

/// What a filter did that its return value does not show (FilterNote): the delay it waited
/// (-1 for none) and flags (1: a script error). Written only on those rare paths; read and
/// reset by the switch only while a tap watches its calls.
extern __thread double st_note_delay __attribute__((tls_model("initial-exec")));
extern __thread int st_note_flags __attribute__((tls_model("initial-exec")));

static inline void st_note_set_delay(double seconds) { st_note_delay = seconds; }
static inline double st_note_get_delay(void) { return st_note_delay; }
static inline void st_note_set_flags(int flags) { st_note_flags |= flags; }
static inline int st_note_get_flags(void) { return st_note_flags; }
static inline void st_note_reset(void) { st_note_delay = -1; st_note_flags = 0; }

#endif
