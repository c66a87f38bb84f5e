# Importing symgrad/__main__.py would run the CLI: keep doctest collection away from it.
collect_ignore = ["symgrad/__main__.py"]
