"""nbgrader_config.py checked against the settings that exist.

traitlets applies `c.<Class>.<setting>` to the classes of that name and their subclasses and
ignores every other name without a word: `c.Execute.timout = 300` or a section
`c.ExecuteWithCheck` would leave grading on nbgrader's defaults. Here each section must name a
class that nbgrader or this course configures (their apps, converters, preprocessors, exporters,
exchange and plugins, and the course's own: Sandbox, ExecuteWithChecks, LmsCollector,
SafeExtractor, SafeExchangeCollect, Course), and each setting one of that class's configurable
traits or its subclasses'. Anything else is refused with the closest valid name.
"""

from __future__ import annotations

import difflib
import importlib
import re

# Modules whose import defines every class a course config may name. nbgrader_config.py itself
# imports most of them already: loading them all costs milliseconds more.
REGISTRY = (
    "nbgrader.apps", "nbgrader.converters", "nbgrader.preprocessors", "nbgrader.exchange", "nbgrader.plugins",
    "nbconvert.exporters", "nbconvert.preprocessors", "nbconvert.writers", "nbconvert.postprocessors",
    "jupyter_client.manager",
    "vicourse.course", "vicourse.grading.sandbox", "vicourse.grading.executor", "vicourse.lms.collect",
    "vicourse.lms.lms_extract", "vicourse.lms.exchange",
)


class ConfigError(ValueError):
    """nbgrader_config.py cannot be used as it is; the message says why, line by line."""


# Imported with this module, so that the batch's forkserver imports them once (batch/worker.py: PRELOAD)
# rather than every grading process on its first config check.
for _module in REGISTRY:
    importlib.import_module(_module)


def configurable_classes() -> dict[str, list[type]]:
    """Every configurable class the registry defines, by name (two libraries may share a name)."""
    from traitlets.config import Configurable

    found: dict[str, list[type]] = {}
    pending = [Configurable]
    while pending:
        cls = pending.pop()
        if cls not in found.setdefault(cls.__name__, []):
            found[cls.__name__].append(cls)
            pending.extend(cls.__subclasses__())
    return found


def settings_of(classes: list[type]) -> set[str]:
    """What a section of these classes may set: their configurable traits, and their subclasses'
    (traitlets hands `c.Execute.graders_dir` to ExecuteWithChecks, a subclass of Execute)."""
    names, pending, seen = set(), list(classes), set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        names.update(cls.class_traits(config=True))
        pending.extend(cls.__subclasses__())
    return names


def problems(config, text: str = "") -> list[str]:
    """One line per unknown section or setting in a loaded config, with the closest valid name
    and, where `text` (the file) shows it, the line it was set on; in the file's order."""
    classes = configurable_classes()
    found = []  # (line, what)
    for section, body in config.items():
        if not section[:1].isupper():
            line = line_of(text, section)
            found.append((line, f"`c.{section}`{at(line)} sets nothing: a setting belongs to a class, "
                                f"as in `c.<Class>.{section}`"))
            continue
        if section not in classes:
            line = line_of(text, section)
            found.append((line, f"`c.{section}`{at(line)} is not a class that nbgrader or this course "
                                f"configures{suggestion(section, classes, 'c.{}')}"))
            continue
        valid = settings_of(classes[section])
        for key in body:
            if key not in valid:
                line = line_of(text, section, key)
                found.append((line, f"`c.{section}.{key}`{at(line)} is not a setting of {section}"
                                    f"{suggestion(key, valid, 'c.' + section + '.{}')}"))
    return [what for _, what in sorted(found, key=lambda f: f[0] or 10**9)]


def suggestion(name: str, valid, form: str) -> str:
    close = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)
    if not close:
        close = [v for v in sorted(valid) if v.lower() == name.lower()]
    return f": did you mean `{form.format(close[0])}`?" if close else ""


def line_of(text: str, *names: str) -> int | None:
    """The first line of the file that sets this name (`c.Section.key`, whatever the config object
    is called), else None."""
    pattern = re.compile(r"(?<![\w.])\w+\s*\.\s*" + r"\s*\.\s*".join(re.escape(n) for n in names) + r"\b")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.search(line.split("#", 1)[0]):
            return number
    return None


def at(line: int | None) -> str:
    return f" (line {line})" if line else ""


def refuse_unknown(config, path) -> None:
    """Raise ConfigError naming every unknown section and setting of the config loaded from path."""
    from pathlib import Path

    text = Path(path).read_text()
    found = problems(config, text)
    if found:
        raise ConfigError(f"{path}: refused, nothing was done:\n" + "\n".join(f"  {line}" for line in found))
