"""Finding model ids in a repository: `vocabulary` (what to look for and whether the registry
covers it, pure) and `repository` (which files, read through git)."""
