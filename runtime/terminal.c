/*
 * terminal.c: what Lua asks about the terminal, apart from the prompt
 * (repl.c) so that a program linking the runtime needs no readline: whether
 * a stream is a terminal (the progress line), and whether Ctrl-C was
 * pressed at the prompt while a chunk runs (repl.c's SIGINT handler counts
 * it in rios_process; rios.apply checks after every block).
 */
#include "process.h"
#include "rios_ffi.h"

#include <unistd.h>

bool rios_ffi_isatty(int fd) { return isatty(fd) == 1; }

bool rios_ffi_interrupt_pending(void) {
  if (!rios_process.interrupted || !rios_process.repl.computing) return false;
  rios_process.interrupted = 0;
  return true;
}
