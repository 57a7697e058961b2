"""The instructor's side: releases, solutions, sample submissions and the checks' calibration."""
