"""The `epdev` command line, mirroring `az ml` command groups and flags."""
