"""vicourse: the small library behind the variational-inference course.

Notebooks use `device` (torch device and seeds); hidden graders use `checking`;
the pipeline (autograde hook, batch grading, reports, solutions) lives in the
other modules and is driven by the Makefile.
"""

import sys

# nbformat validates notebooks with jsonschema, which, when the optional rfc3987_syntax package is
# installed (jupyter_events pulls it in), builds an Earley parser for IRIs at import: 1.2 s of every
# process that reads a notebook. No schema we validate uses the "iri" format, so this package's
# processes import jsonschema without it, as on a machine where it is not installed.
sys.modules.setdefault("rfc3987_syntax", None)
