"""The base of every error a user can fix (bad config, bad file, missing data).

The CLI prints these as one clear line without a traceback; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """An error caused by input the user controls; the message names the file, line, task or field."""
