"""Services: load, authorize, persist, analyze, commit. Views call these and nothing else."""
