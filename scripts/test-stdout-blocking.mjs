// Preloaded into every test process (scripts/test.sh). With --test-force-exit a test file's child
// process exits while its last report frames may still sit in its stdout pipe, which is non-blocking
// on Linux: the parent then counts fewer tests than ran and still exits 0 (nodejs/node#64833).
// Blocking writes make every frame leave the child before the exit.
process.stdout._handle?.setBlocking?.(true);
