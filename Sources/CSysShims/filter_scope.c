#include "CSysShims.h"

__thread int st_filter_scope_depth __attribute__((tls_model("initial-exec"))) = 0;
