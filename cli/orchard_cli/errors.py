"""What `orchard` refuses, each with a message that says what to do; the command exits 1 with it."""


class CliError(Exception):
    """A problem the person running `orchard` can act on."""


class UnknownStack(CliError):
    """No Orchard stack of that name in the region."""


class UnknownRun(CliError):
    """No run of the stack by that id, execution name or ARN."""


class NotStarted(CliError):
    """An uploaded manifest started no execution in time."""
