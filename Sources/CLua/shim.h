/*
 * The system Lua 5.4 and the few things Swift needs around it.
 *
 * Swift cannot import Lua's function-like macros, so they get static inline wrappers here (st_*).
 * More importantly this header is where Lua errors are raised: lua_error longjmps, and a longjmp
 * across a Swift frame skips that frame's releases. Swift functions callable from Lua are reached
 * through st_trampoline, which calls the Swift function, and only after it has returned raises
 * the error the Swift function left on the stack. Swift code never calls lua_error itself.
 */
#ifndef SOCKTEST_CLUA_SHIM_H
#define SOCKTEST_CLUA_SHIM_H

#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Macros Swift cannot import ---------------------------------------------------------- */

static inline int st_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline int st_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline void st_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void st_newtable(lua_State *L) { lua_newtable(L); }
static inline const char *st_tostring(lua_State *L, int i) { return lua_tolstring(L, i, NULL); }
static inline int st_isnoneornil(lua_State *L, int i) { return lua_isnoneornil(L, i); }
static inline int st_isfunction(lua_State *L, int i) { return lua_isfunction(L, i); }
static inline lua_Integer st_tointegerx(lua_State *L, int i, int *isnum) { return lua_tointegerx(L, i, isnum); }
static inline lua_Number st_tonumberx(lua_State *L, int i, int *isnum) { return lua_tonumberx(L, i, isnum); }
static inline void st_insert(lua_State *L, int i) { lua_insert(L, i); }
static inline void st_remove(lua_State *L, int i) { lua_remove(L, i); }
static inline const char *st_typename(lua_State *L, int i) { return luaL_typename(L, i); }
static inline void st_gc_collect(lua_State *L) { lua_gc(L, LUA_GCCOLLECT); }
static inline void *st_extraspace(lua_State *L) { return lua_getextraspace(L); }
static inline int st_getmetatable(lua_State *L, const char *name) { return luaL_getmetatable(L, name); }

/* ---- Raising errors after Swift has returned ---------------------------------------------- */

/* A Swift function reachable from Lua. It returns the number of results it pushed, or
 * ST_RAISE after pushing an error message (or any error value): the trampoline raises it. */
typedef int (*st_swift_function)(lua_State *L);
#define ST_RAISE (-1)

/* Set while Swift code runs inside a Lua call; the capped allocator never fails then, so an
 * allocation made by Swift (lua_pushstring, lua_createtable, ...) cannot raise out of memory
 * through a Swift frame. The cap applies to what the script itself allocates. */
typedef struct st_alloc_state {
    size_t used;        /* bytes currently allocated by this state */
    size_t limit;       /* cap for script allocations; 0 = none */
    size_t peak;
    int enforce;        /* 1 while Lua code (not Swift) is running */
    /* The instruction budget of the Lua code running now (in hook ticks), shared by every
     * thread of the state: a coroutine a filter creates runs on the filter's budget. NULL or
     * negative: unlimited (the script's top level). Set under the guard (st_setbudget). */
    intptr_t *budget;
    /* Set by a watchdog on another thread (st_interrupt): the next hook tick raises. */
    volatile int interrupted;
} st_alloc_state;

static inline st_alloc_state *st_alloc_state_of(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return (st_alloc_state *)ud;
}

/* Pushes "file:line: " of the script code that made the call: the innermost Lua level outside
 * the module's own Lua parts (chunks "=socktest..."), so a misuse that socktest.net passes on
 * to a binding names the script's line, not the module's. */
static inline void st_where(lua_State *L) {
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.currentline > 0 && strncmp(ar.source, "=socktest", 9) != 0) {
            lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
            return;
        }
    }
    lua_pushliteral(L, "");
}

static inline int st_trampoline(lua_State *L) {
    st_swift_function fn = (st_swift_function)(uintptr_t)lua_touserdata(L, lua_upvalueindex(1));
    st_alloc_state *a = st_alloc_state_of(L);
    int saved = a->enforce;
    a->enforce = 0;
    int n = fn(L);          /* the Swift frame lives and dies inside this call */
    a->enforce = saved;
    if (n == ST_RAISE) {    /* raised here, with no Swift frame below us */
        if (lua_type(L, -1) == LUA_TSTRING) {   /* "script.lua:12: " + message, as luaL_error */
            st_where(L);
            lua_insert(L, -2);
            lua_concat(L, 2);
        }
        return lua_error(L);
    }
    return n;
}

/* Push a Lua C closure that calls the Swift function `fn` through the trampoline; `context`
 * (upvalue 2) is handed to the Swift side as it is (the host, unretained). */
static inline void st_pushswiftfunction(lua_State *L, st_swift_function fn, void *context) {
    lua_pushlightuserdata(L, (void *)(uintptr_t)fn);
    lua_pushlightuserdata(L, context);
    lua_pushcclosure(L, st_trampoline, 2);
}

static inline void *st_context(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(2)); }

/* ---- Capped allocator --------------------------------------------------------------------- */

static inline void *st_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    st_alloc_state *a = (st_alloc_state *)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        a->used -= old;
        return NULL;
    }
    if (a->enforce && a->limit && nsize > old && a->used + (nsize - old) > a->limit)
        return NULL;        /* Lua turns this into a memory error inside the running pcall */
    void *p = realloc(ptr, nsize);
    if (p == NULL) {
        if (!a->enforce) abort();   /* the machine is out of memory while Swift runs: stop cleanly */
        return NULL;
    }
    a->used = a->used - old + nsize;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

static inline lua_State *st_newstate(st_alloc_state *a) { return lua_newstate(st_alloc, a); }

/* ---- Instruction budget ------------------------------------------------------------------- */

/* The hook is set on the main thread before any other thread exists, so every thread and
 * coroutine inherits it (lua_newthread copies the hook). What it counts down is the budget of
 * the code running now (st_alloc_state.budget), so a coroutine made inside a filter cannot run
 * outside the filter's budget. Without the debug library a script cannot remove the hook. */
#define ST_HOOK_EVERY 1000
static inline void st_budget_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    st_alloc_state *a = st_alloc_state_of(L);
    if (a->interrupted) {
        a->interrupted = 0;                 /* one error: the code running now stops */
        luaL_where(L, 0);
        lua_pushstring(L, "stopped: the script held the Lua state too long without returning (an endless loop?)");
        lua_concat(L, 2);
        lua_error(L);
        return;
    }
    intptr_t *left = a->budget;
    if (left == NULL || *left < 0) return;  /* unlimited */
    if (*left == 0) {
        /* In a hook the running Lua function is level 0 (luaL_error would name its caller). */
        luaL_where(L, 0);
        lua_pushstring(L, "filter exceeded its instruction budget (an endless loop?)");
        lua_concat(L, 2);
        lua_error(L);
        return;
    }
    *left -= 1;
}

static inline void st_install_hook(lua_State *L) {
    lua_sethook(L, st_budget_hook, LUA_MASKCOUNT, ST_HOOK_EVERY);
}

/* Makes T's extra space the running budget, `instructions` long (< 0: unlimited). Returns the
 * budget that ran before, for st_restorebudget. Guard held. */
static inline intptr_t *st_setbudget(lua_State *T, long long instructions) {
    st_alloc_state *a = st_alloc_state_of(T);
    intptr_t *left = (intptr_t *)lua_getextraspace(T);
    *left = instructions < 0 ? -1 : (intptr_t)(instructions / ST_HOOK_EVERY);
    intptr_t *previous = a->budget;
    a->budget = left;
    return previous;
}

static inline intptr_t *st_currentbudget(lua_State *L) { return st_alloc_state_of(L)->budget; }
static inline void st_restorebudget(lua_State *L, intptr_t *budget) { st_alloc_state_of(L)->budget = budget; }

/* From any thread: the next hook tick of any Lua code of this state raises an error. */
static inline void st_interrupt(st_alloc_state *a) { __atomic_store_n(&a->interrupted, 1, __ATOMIC_RELEASE); }

/* ---- Protected calls ---------------------------------------------------------------------- */

static inline int st_traceback_handler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        /* error({}): no message to carry the place, so name it here ("x.lua:3: ") */
        st_where(L);
        msg = lua_pushfstring(L, "%s(error object is a %s value)", lua_tostring(L, -1), luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* lua_pcall with the message handler at stack index `handler`; script allocations are capped
 * during the call. */
static inline int st_pcall_with(lua_State *L, int handler, int nargs, int nresults) {
    st_alloc_state *a = st_alloc_state_of(L);
    int saved = a->enforce;
    a->enforce = 1;
    int status = lua_pcall(L, nargs, nresults, handler);
    a->enforce = saved;
    return status;
}

/* lua_pcall with a traceback message handler. */
static inline int st_pcall(lua_State *L, int nargs, int nresults) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, st_traceback_handler);
    lua_insert(L, base);
    int status = st_pcall_with(L, base, nargs, nresults);
    lua_remove(L, base);
    return status;
}

/* A filter thread keeps the traceback handler at the bottom of its stack (index 1) for good:
 * each filter call then runs st_pcall_with(T, 1, ...) with nothing to push or remove. */
static inline void st_push_traceback_handler(lua_State *L) { lua_pushcfunction(L, st_traceback_handler); }

#endif
