"""nbgrader configuration for the course.

Every path is derived from this file's location, so a copy of the course
folder (a TA's clone, a test's temporary course) grades itself.
"""

import os

from nbgrader.converters.autograde import Autograde
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, Execute, GetGrades

from vicourse.grading.executor import ExecuteWithChecks

here = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.root = here
c.CourseDirectory.course_id = "vi-course"
c.CourseDirectory.solution_directory = "solutions"
# The gradebook: any SQLAlchemy URL; PostgreSQL ("postgresql+psycopg2://user@host/db") for
# several graders or machines. `make grade` writes it from one process only (README, TA);
# for stock autograde processes run side by side, SQLite waits up to 60 s for its write lock
# instead of failing with "database is locked".
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db") + "?timeout=60"

# Hidden checks run in the grading process after the notebook has executed.
# Start from nbgrader's own list so a later nbgrader cannot silently drop a step.
c.Autograde.autograde_preprocessors = [
    ExecuteWithChecks if step is Execute else step
    for step in Autograde.class_traits()["autograde_preprocessors"].default()
]
c.ExecuteWithChecks.graders_dir = os.path.join(here, "grader_tests")
c.ExecuteWithChecks.check_timeout = 30.0
# The grading record of each notebook (did it run to its end, did every check run),
# written by the grading process where no kernel can reach it.
c.ExecuteWithChecks.results_dir = os.path.join(here, "build", "results")
# A kernel's working folder starts as a copy of release/<assignment>: what students were given.
c.ExecuteWithChecks.release_dir = os.path.join(here, "release")

# Every kernel that runs student code starts in a sandbox (vicourse/grading/sandbox.py):
# no view of the course folder, no network, its processes die with it, and limits.
# `make doctor` prints what this machine gives. Where no sandbox can be set up,
# grading runs anyway and every report says so; set `required = True` to refuse.
c.Sandbox.required = False
c.Sandbox.memory_mb = 4096      # address space of a kernel (data segment when a GPU is exposed)
c.Sandbox.max_processes = 256   # processes and threads at once
c.Sandbox.max_file_mb = 256     # largest file a kernel may write
c.Sandbox.tmpfs_mb = 512        # each of its private home, /tmp and /dev/shm
# Output kept per cell and per notebook; the rest is dropped with a note in the cell.
c.ExecuteWithChecks.max_cell_output_bytes = 2_000_000
c.ExecuteWithChecks.max_notebook_output_bytes = 20_000_000
# Wall-clock limit for a whole notebook; cells after it are not run (and score nothing).
c.ExecuteWithChecks.notebook_timeout = 900
# A kernel that keeps hanging or dying is restarted this many times; later cells are not run.
c.ExecuteWithChecks.max_restarts = 3

# Per-cell limit: the slowest solution cell (model training) takes well under this
# on two CPU cores; an endless loop costs one timeout and the next cells still run.
c.Execute.timeout = 120
c.Execute.iopub_timeout = 10
# A graded kernel has nothing left to save: end it (and its sandbox) at once rather than
# waiting for a polite shutdown, about a second a notebook.
c.Execute.shutdown_kernel = "immediate"

# A deleted test cell is put back (and so scored), not silently skipped.
c.OverwriteCells.add_missing_cells = True

# nbgrader scores a test cell with any stderr output as zero; a library warning
# raised while testing a correct answer must not cost points.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w+Warning: "

# A student's markdown and outputs are rendered for TAs (formgrader) and students
# (feedback): strip scripts and event handlers, which would run in the viewer's browser.
c.HTMLExporter.sanitize_html = True
# Math as MathML, made from the sanitized text when the page is rendered (vicourse/reports/offline_math.py):
# formgrader and the feedback pages show it with no network and no script.
c.HTMLExporter.filters = {"clean_html": "vicourse.reports.offline_math.clean_html"}

# Feedback shows the student's work and the check messages, never the hidden tests nor the
# rubrics (autograde puts each rubric back into its locked question cell for formgrader).
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, ClearMarkScheme, CSSHTMLHeaderPreprocessor]
# Rubrics sit in locked question cells, not in task cells (README, Instructor).
c.ClearMarkScheme.enforce_metadata = False

# The exchange (`nbgrader collect`): copy each submission without following links, refuse
# hard links, devices, pipes and folders not owned by the student they name, time it by its
# last change, and flag copies of source/ or grader_tests/ files (vicourse/lms/exchange.py;
# set-up on a shared JupyterHub: docs/exchange.md).
c.ExchangeFactory.collect = "vicourse.lms.exchange.SafeExchangeCollect"

# LMS downloads: put the Canvas or Gradescope zip in downloaded/<A>/archive/ and run
# `make collect A=<A>` (stock `nbgrader zip_collect <A> --force`, with these two plugins).
# The extractor refuses path traversal, links and zip bombs and records which upload each file
# came from; the collector takes the student and the time from that upload alone (never from
# names or zip times inside a student's zip) and reports every file it does not collect,
# refusals, duplicates and late submissions (reports/<A>/collect.json).
c.ZipCollectApp.extractor_plugin = "vicourse.lms.lms_extract.SafeExtractor"
c.ZipCollectApp.collector_plugin = "vicourse.lms.collect.LmsCollector"
# Each pattern must match the whole name of an upload as the LMS wrote it (vicourse/lms/lms_entries.py):
# Canvas: <name>[_LATE]_<user id>_<submission id>_<file>[-N].<ext>, a file or a student's zip;
# the user id is what Canvas's grade import matches. Gradescope: a submission_<id>/ folder,
# the student and the time from the submission_metadata.yml beside it.
c.LmsCollector.patterns = [
    r"(?P<name>[^_]+?)(?P<late>_LATE)?_(?P<student_id>[0-9]+)_(?P<submission_id>[0-9]+)_"
    r"(?P<file_id>.+?)(?:-(?P<attempt>[0-9]+))?(?P<ext>\.[A-Za-z0-9]+)?",
    r"submission_(?P<submission_id>[0-9]+)",
]
c.SafeExtractor.archive_timezone = "UTC"  # LMS downloads store their times in UTC
c.SafeExtractor.max_total_mb = 2048
# Deadlines, for late flags: {"01_entropy_kl": "2026-10-09 23:59:00 Europe/Berlin"} (UTC without a zone).
c.Course.deadlines = {}
# Canvas grade import: the assignment's column as Canvas exports it, "Name (assignment id)".
c.Course.canvas_columns = {}
