"""The command line: `vicourse <command>`, one module per group of commands, and the check of
nbgrader_config.py that every command runs first."""
