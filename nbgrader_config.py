"""nbgrader configuration for the course.

Every path is derived from this file's location, so a copy of the course
folder (a TA's clone, a test's temporary course) grades itself.
"""

import os

from nbgrader.converters.autograde import Autograde
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades

from vicourse.grading_executor import ExecuteWithChecks

here = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.root = here
c.CourseDirectory.course_id = "vi-course"
c.CourseDirectory.solution_directory = "solutions"
# Wait up to 60 s for the SQLite write lock instead of failing with "database is locked"
# when several autograde processes finish at once.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db") + "?timeout=60"

# Hidden checks run in the grading process after the notebook has executed.
# Start from nbgrader's own list so a later nbgrader cannot silently drop a step.
c.Autograde.autograde_preprocessors = [
    ExecuteWithChecks if step is Execute else step
    for step in Autograde.class_traits()["autograde_preprocessors"].default()
]
c.ExecuteWithChecks.graders_dir = os.path.join(here, "grader_tests")
c.ExecuteWithChecks.check_timeout = 30.0

# Per-cell limit: the slowest solution cell (model training) takes well under this
# on two CPU cores; an endless loop costs one timeout and the next cells still run.
c.Execute.timeout = 120
c.Execute.iopub_timeout = 10

# A deleted test cell is put back (and so scored), not silently skipped.
c.OverwriteCells.add_missing_cells = True

# nbgrader scores a test cell with any stderr output as zero; a library warning
# raised while testing a correct answer must not cost points.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w+Warning: "

# Feedback shows the student's work and the check messages, never the hidden tests.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
