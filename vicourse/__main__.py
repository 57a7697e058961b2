"""Command line: `vicourse <command>` (or `python -m vicourse`), run in the course folder or with
--course FOLDER. `vicourse <command> --help` describes each command and its options.

A command lives in one of the apps/commands_*.py modules, each with a `register(commands)` that adds
its argparse subparsers and sets `run`, a function of the parsed arguments returning the exit
code. A new command is one such function and its parser; a new module goes in COMMAND_MODULES.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .apps.command_line import EXIT_CODES, Refused

# Imported here for scripts and tests that call them directly.
from .apps.commands_authoring import calibrate  # noqa: F401
from .apps.commands_collect import collect  # noqa: F401
from .apps.commands_course import cluster_certs, doctor  # noqa: F401
from .apps.commands_feedback import export, feedback  # noqa: F401
from .apps.commands_grading import grade  # noqa: F401

# the modules of apps/ that register commands
COMMAND_MODULES = ("commands_authoring", "commands_collect", "commands_grading", "commands_feedback", "commands_course")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return f"vicourse {installed('vicourse')} (nbgrader {installed('nbgrader')})"
    except PackageNotFoundError:
        return "vicourse (not installed)"


class Formatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps text laid out in lines (the exit codes) as it is."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=30)

    def add_argument(self, action):
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):  # commands are listed indented one step more
            self._action_max_length += self._indent_increment

    def _fill_text(self, text, width, indent):
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="vicourse", description=__doc__.split("\n\n")[0].replace("\n", " "),
                                          epilog=EXIT_CODES, formatter_class=Formatter)
    main_parser.add_argument("--version", action="version", version=version())
    commands = main_parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.apps.{name}").register(commands)
    for command in commands.choices.values():
        command.epilog = command.epilog or EXIT_CODES
        command.formatter_class = Formatter
    main_parser.commands = commands
    return main_parser


def parse(argv=None) -> argparse.Namespace:
    """The arguments, each command's checked by its own parser: what it does not take is refused
    with that command's usage."""
    main_parser = parser()
    args, extra = main_parser.parse_known_args(argv)
    if extra:
        main_parser.commands.choices[args.command].error(
            f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv=None) -> None:
    args = parse(argv)
    try:
        code = args.run(args)
    except Refused as refused:
        print(refused, file=sys.stderr)
        code = refused.code
    except KeyboardInterrupt:
        print("interrupted: a batch cut short resumes where it stopped (run the same command again)", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
