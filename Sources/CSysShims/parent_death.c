#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>
#include "CSysShims.h"

int st_die_with_parent(int parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return -1;
    return getppid() == parent ? 0 : -1;   /* it died before the call: die now */
}
