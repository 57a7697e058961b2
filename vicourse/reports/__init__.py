"""What graded submissions become: grades.csv, the LMS files, the class and similarity reports, feedback pages."""
