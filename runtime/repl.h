/* repl.h: the interactive prompt of rios-lua (runtime/repl.c). */
#ifndef RIOS_REPL_H
#define RIOS_REPL_H

#include <lua.h>

/* Run the prompt on L until end of input (Ctrl-D). rios is loaded as the
   global `rios`. With a terminal on stdin: GNU readline editing, history in
   ~/.rios_lua_history, tab completion, Ctrl-C abandons the line or stops the
   running chunk. Otherwise lines are read plainly (prompts still printed, as
   luajit -i does). Returns 0. */
int rios_repl(lua_State *L);

#endif
