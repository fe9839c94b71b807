// Runs the identgate CLI from source (through tsx), so tests need no build.
import '../../src/cli/entry.js';
