"""Errors the CLI turns into one line on stderr and a documented exit code."""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PROBLEMS = 3


class RunnerError(Exception):
    """A failure the user can act on; printed without a traceback."""

    exit_code = EXIT_FAILURE


class UsageProblem(RunnerError):
    """Arguments that name something that does not exist (an unknown migration id)."""

    exit_code = EXIT_USAGE
