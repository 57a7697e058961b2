"""vicourse: the small library behind the variational-inference course.

Notebooks use `shipped/vi_torch.py` (torch device and seeds); hidden graders use
`grading/checking.py`; the pipeline lives in one subpackage per role (grading/, batch/,
reports/, lms/, authoring/, apps/: docs/design.md) and is driven by the Makefile.
"""

import sys

# nbformat validates notebooks with jsonschema, which, when the optional rfc3987_syntax package is
# installed (jupyter_events pulls it in), builds an Earley parser for IRIs at import: 1.2 s of every
# process that reads a notebook. No schema we validate uses the "iri" format, so this package's
# processes import jsonschema without it, as on a machine where it is not installed.
sys.modules.setdefault("rfc3987_syntax", None)
