"""Services: load, authorize, persist, analyze; they flush and the request's edge commits
(api.db). Views call these and nothing else."""
