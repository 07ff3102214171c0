"""One module per group of checks; each defines ``run(t: Tester)``."""
