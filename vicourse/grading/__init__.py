"""Everything between a student's bytes and a verdict: the sandbox, the kernel calls, the hidden checks."""
