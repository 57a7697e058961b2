"""The command line: `vicourse <command>`, one module per group of commands."""
