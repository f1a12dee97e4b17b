"""nst's command line: one module per mode (run.py parses the flags and calls one)."""
