"""The `deskpilot` command line: argument parsing, the commands, and the files a command writes."""
