/*
 * registry.h: the Lua registry keys that the C host and the rios modules
 * share. This is the one place they are declared; the build turns the
 * RIOS_REG lines below into lua/rios/registry.lua (a table of the same
 * names without the RIOS_REG_ prefix), so C and Lua cannot drift apart.
 * Each line: #define RIOS_REG_NAME "key" followed by a one-line comment.
 */
#ifndef RIOS_REGISTRY_H
#define RIOS_REGISTRY_H

/* RIOS_REG_BEGIN */
#define RIOS_REG_HOST "rios.host"             /* every state: { exe_path, lua_dir, root_dir, version, quiet, check }, set by rios_state_new (quiet by main's -q, check by --check) */
#define RIOS_REG_SCRIPT "rios.script"         /* main state: { argv, base, chunks, source, chunkname } of the script, for workers that run it again */
#define RIOS_REG_CLI "rios.cli"               /* main state: the command line's concurrency (-j, --read-workers, --kind) and --timings */
#define RIOS_REG_WORKER "rios.worker"         /* a compute worker's state: { pipeline, id, blob } the worker boots from */
#define RIOS_REG_REPL "rios.repl"             /* main state at the prompt: the rios.repl module (printing values, completion) */
#define RIOS_REG_USER_ERROR "rios.user_error" /* every state: the metatable of errors the user made (one line, no traceback), set by rios.base */
/* RIOS_REG_END */

#endif
