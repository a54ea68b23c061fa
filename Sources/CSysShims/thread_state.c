#include "CSysShims.h"

__thread int st_filter_scope_depth __attribute__((tls_model("initial-exec"))) = 0;
__thread void (*st_wait_observer)(void *) __attribute__((tls_model("initial-exec"))) = 0;
__thread void *st_wait_observer_context __attribute__((tls_model("initial-exec"))) = 0;
__thread double st_note_delay __attribute__((tls_model("initial-exec"))) = -1;
__thread int st_note_flags __attribute__((tls_model("initial-exec"))) = 0;
__thread int st_data_action_kind __attribute__((tls_model("initial-exec"))) = 0;
__thread long st_data_action_count __attribute__((tls_model("initial-exec"))) = 0;
__thread double st_chain_delay __attribute__((tls_model("initial-exec"))) = -1;
__thread double st_unanswered_seconds __attribute__((tls_model("initial-exec"))) = 0;
