"""The base of the errors a run reports to its user: bad input or unusable data, never a bug.

Importable without Spark, as the manifest's error, which derives from it, is shared with the Lambdas.
"""


class OrchardError(Exception):
    """Input or data the job cannot use; the message alone tells the user what and where, without a traceback."""
